"""The recorder keeps a session or a turn the store refused for a moment (a busy SQLite, a dropped PostgreSQL
connection): it tries again rather than losing a child's turn; a write that can never succeed is given up."""

from types import SimpleNamespace

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from hootkit.dashboard.live import LiveFeed
from hootkit.gateway import recorder as recorder_module
from hootkit.gateway.recorder import Recorder
from hootkit.store.db import Store

pytestmark = pytest.mark.timeout(30)


class FlakyStore:
    """Refuses the first `refusals` writes with `error`, then keeps them."""

    def __init__(self, refusals: int, error: Exception):
        self.refusals = refusals
        self.error = error
        self.kept: list[tuple] = []
        self.tries = 0

    async def start_session(self, session_id: str, device_id: str) -> None:
        self.tries += 1
        if self.refusals:
            self.refusals -= 1
            raise self.error
        self.kept.append(("session", session_id, device_id))

    async def seen(self, device_id: str) -> None:
        self.kept.append(("seen", device_id))


def locked() -> OperationalError:
    return OperationalError("INSERT INTO device_sessions ...", {}, Exception("database is locked"))


def disk_full() -> OperationalError:
    return OperationalError("INSERT INTO device_sessions ...", {}, Exception("database or disk is full"))


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    monkeypatch.setattr(recorder_module, "RETRY_WAITS_S", (0, 0, 0))


async def record_one_session(store, tmp_path, sessions: int = 1) -> None:
    recorder = Recorder(LiveFeed(), tmp_path)
    recorder.start(store)
    for n in range(1, sessions + 1):
        recorder.opened(SimpleNamespace(session_id=f"s-{n}", device_id="desk-1", turns_started=0, activity="idle",
                                        held=None))
    await recorder.stop()


async def test_a_write_refused_as_locked_is_tried_again_and_kept_in_order(tmp_path):
    store = FlakyStore(refusals=2, error=locked())
    await record_one_session(store, tmp_path)
    assert store.kept == [("session", "s-1", "desk-1"), ("seen", "desk-1")]


async def test_a_store_that_stays_down_is_given_up_after_the_retries_and_the_device_goes_on(tmp_path, caplog):
    store = FlakyStore(refusals=10, error=locked())
    await record_one_session(store, tmp_path)
    assert store.kept == [("seen", "desk-1")]
    assert "could not record" in caplog.text


async def test_a_write_that_can_never_succeed_is_not_retried(tmp_path):
    store = FlakyStore(refusals=1, error=IntegrityError("INSERT ...", {}, Exception("UNIQUE constraint failed")))
    await record_one_session(store, tmp_path)
    assert store.refusals == 0 and store.kept == [("seen", "desk-1")]


async def test_a_full_disk_is_not_retried(tmp_path):
    store = FlakyStore(refusals=1, error=disk_full())
    await record_one_session(store, tmp_path)
    assert store.tries == 1 and store.kept == [("seen", "desk-1")]


class DownStore:
    """Every write is refused as locked."""

    def __init__(self):
        self.tries = 0

    async def start_session(self, session_id: str, device_id: str) -> None:
        await self.seen(device_id)

    async def seen(self, device_id: str) -> None:
        self.tries += 1
        raise locked()


async def test_once_the_store_stayed_down_the_writes_queued_behind_get_one_try_each(tmp_path):
    store = DownStore()
    await record_one_session(store, tmp_path, sessions=3)  # six writes: a session and a "seen" for each
    assert store.tries == len(recorder_module.RETRY_WAITS_S) + 1 + 5  # all tries for the first, then one each


async def test_a_turn_whose_commit_acknowledgement_was_lost_is_kept_once(tmp_path):
    """PostgreSQL can commit a turn and lose the connection before saying so: the retry must not keep it twice."""
    store = await Store.open(Store.url_for(tmp_path))
    real_add_turn = store.add_turn
    tries = []

    async def add_turn_losing_the_first_acknowledgement(**fields):
        tries.append(fields["number"])
        turn_id = await real_add_turn(**fields)
        if len(tries) == 1:
            raise ConnectionResetError("connection lost after COMMIT")
        return turn_id

    store.add_turn = add_turn_losing_the_first_acknowledgement
    recorder = Recorder(LiveFeed(), tmp_path)
    recorder.start(store)
    session = SimpleNamespace(session_id="s-1", device_id="desk-1", turns_started=0, activity="idle", held=None)
    recorder.opened(session)
    turn = SimpleNamespace(number=1, outcome="answered", error=None, transcript="how many legs", spoken=["Eight."],
                           flags=[], pcm=None, reply_s=1.0, plan=None,
                           clock=SimpleNamespace(speech_end=None, commit=None, parts=lambda: {}))
    recorder.turn_finished(session, turn)
    await recorder.stop()
    try:
        assert tries == [1, 1]
        assert [(row.session_id, row.number) for row in await store.turns(["desk-1"])] == [("s-1", 1)]
    finally:
        await store.close()
