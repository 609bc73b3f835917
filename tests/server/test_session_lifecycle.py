"""Session lifecycle: one session per device (a reconnect replaces the old one), sessions only after hello,
no old audio after a listening reset, and caps on connections and waiting pairings (issue 16, holes 2 and 3c)."""

import asyncio
import contextlib
import threading

import numpy as np
import pytest
from conftest import QUIZ_LESSON, fake_engines, fast_settings, silence, tone
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

import hootproto
from hootkit.accounts.passwords import token_hash
from hootkit.app import create_app
from hootkit.client.device import DeviceClient, Refused
from hootkit.engines.fakes import EnergyVad, EnergyVadStream, FakeLlm, FakeStt, FakeTts
from hootkit.engines.registry import Engines
from hootkit.gateway.observer import SessionObserver
from hootkit.gateway.session import DeviceSession
from hootkit.pipeline.metrics import ServerMetrics
from hootkit.safety.usage import UsageLimits
from hootkit.serving import serve_in_loop
from hootproto import Abort, Audio, Hello, Listen

pytestmark = pytest.mark.timeout(60)

QUESTION = np.concatenate([silence(0.2), tone(0.6)])
FRAME = 640  # 40 ms at 16 kHz


def served(app, device_id: str) -> asyncio.Task:
    """The server's task for the connection of `device_id`'s session (it said hello): done once the server is
    through with it (its session gone from the gateway, its lesson kept, its pairing code withdrawn)."""
    return app.state.hoot.gateway._links[device_id].task


async def ended(task: asyncio.Task, timeout_s: float = 10.0) -> None:
    done, _ = await asyncio.wait({task}, timeout=timeout_s)
    assert done, "the server is still serving the connection"


async def answered_before_hello(ws) -> str:
    """Send a hello-less connection a frame that is not a hello; the server's answer (an out-of-order alert),
    which comes once the server is reading that connection's frames, past its admission."""
    await ws.send(hootproto.encode(Listen(state="start", mode="auto")))
    return await asyncio.wait_for(ws.recv(), 10)


async def closed(client: DeviceClient, timeout_s: float = 10.0) -> tuple[int | None, str | None]:
    """Wait until the server has closed `client`'s connection; its close code and reason."""
    await asyncio.wait_for(asyncio.shield(client._reader), timeout_s)
    return client.close_code, client.close_reason


# -- one session per device -------------------------------------------------------------------------


async def test_a_reconnect_replaces_the_old_session_which_is_closed_with_4006(serve):
    async with serve() as url:
        old = DeviceClient(url, device_id="owl-1")
        await old.connect()  # then it goes silent, as after a Wi-Fi drop nobody noticed
        async with DeviceClient(url, device_id="owl-1") as new:
            assert await closed(old) == (4006, "replaced by a new connection")
            answer = await new.ask(QUESTION)
            assert answer.sentences == ["A spider has eight legs.", "Can you count them?"]
        await old.close()


async def test_the_replaced_session_hands_on_its_lesson_and_never_marks_the_device_offline(tmp_path):
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    (lessons / "legs.yaml").write_text(QUIZ_LESSON)
    app = create_app(fast_settings(lessons_dir=lessons, watch_lessons=False), fake_engines(stt=FakeStt("eight")))
    async with serve_in_loop(app) as url:
        hoot = app.state.hoot
        hoot.classroom.assign("legs", ["owl-1"])
        old = DeviceClient(url, device_id="owl-1")
        await old.connect()
        assert (await old.told()).reply.startswith("Let's start a lesson: Legs.")
        assert (await old.ask(QUESTION)).reply == "Yes, eight legs! Why do you think spiders spin webs?"
        old_served = served(app, "owl-1")
        with hoot.live.subscribe() as news:
            async with DeviceClient(url, device_id="owl-1") as new:
                new_served = served(app, "owl-1")
                # the new session goes on where the old one was, not from the lesson's start
                assert (await new.told()).reply == "Let's go on with our lesson: Legs. Why do you think spiders spin webs?"
                assert (await closed(old))[0] == 4006
                await ended(old_served)  # all the news its end makes is out by now
                assert hoot.gateway._open_total == 1
                assert list(hoot.gateway.sessions) == ["owl-1"]
                assert hoot.gateway.sessions["owl-1"].session_id == new.session_id
                assert hoot.gateway.sessions["owl-1"].lesson.index == 1
                heard = []
                while not news.queue.empty():
                    heard.append(news.queue.get_nowait())
                assert heard and not [n for n in heard if n.kind == "device" and not n.data["online"]]
            await ended(new_served)
            assert not hoot.gateway.sessions
            assert hoot.classroom.runs["owl-1"].index == 1  # kept by the session that really ended
        await old.close()


async def test_a_connection_that_has_not_said_hello_is_no_session_and_replaces_nothing(serve):
    async with serve() as url, DeviceClient(url, device_id="owl-1") as device:
        async with connect(url, additional_headers={"Device-Id": "owl-1"}) as silent:  # never says hello
            assert hootproto.decode(await answered_before_hello(silent)).code == "out_of_order"
            assert (await device.ask(QUESTION)).sentences  # its connection was never closed
            assert device.ws.close_code is None


async def test_only_the_hello_registers_a_session():
    app = create_app(fast_settings(), fake_engines())
    async with serve_in_loop(app) as url:
        gateway = app.state.hoot.gateway
        async with connect(url, additional_headers={"Device-Id": "owl-9"}) as silent:
            assert hootproto.decode(await answered_before_hello(silent)).code == "out_of_order"
            assert gateway.sessions == {} and gateway.sessions_of("owl-9") == []
            async with DeviceClient(url, device_id="owl-9") as device:
                assert [s.session_id for s in gateway.sessions_of("owl-9")] == [device.session_id]
                device_served = served(app, "owl-9")
        await ended(device_served)
        assert not gateway.sessions


# -- a listening reset during the VAD call ---------------------------------------------------------------


class GatedVad(EnergyVad):
    """The energy VAD, except that once `armed` its next call blocks (on its worker thread) until `release`."""

    def __init__(self):
        super().__init__()
        self.armed = threading.Event()
        self.entered = threading.Event()
        self.release = threading.Event()

    def new_stream(self) -> EnergyVadStream:
        vad = self

        class Stream(EnergyVadStream):
            def speech_probs(self, windows):
                if vad.armed.is_set():
                    vad.armed.clear()
                    vad.entered.set()
                    vad.release.wait(10)
                return super().speech_probs(windows)

        return Stream(self.level)


class RecordingStt(FakeStt):
    def __init__(self):
        super().__init__()
        self.heard: list[np.ndarray] = []

    async def transcribe(self, pcm, key, hints=()):
        self.heard.append(pcm.copy())
        return await super().transcribe(pcm, key, hints)


class WatchedIntake(asyncio.Queue):
    """A session's audio queue that says when the session has handled everything put in it: `idle` is set when
    the intake task comes back for more and finds nothing (it takes the next event only after the last one)."""

    def __init__(self, maxsize: int):
        super().__init__(maxsize)
        self.idle = asyncio.Event()

    def put_nowait(self, item) -> None:
        self.idle.clear()
        super().put_nowait(item)

    async def get(self):
        if self.empty():
            self.idle.set()
        return await super().get()

    async def handled(self) -> None:
        await asyncio.wait_for(self.idle.wait(), 10)


class FinishedTurns(SessionObserver):
    """Hands over each committed turn as it ends."""

    def __init__(self):
        self.turns: asyncio.Queue = asyncio.Queue()

    def turn_finished(self, session, turn) -> None:
        self.turns.put_nowait(turn)


def frames(samples: np.ndarray) -> list[Audio]:
    data = samples.astype(np.int16).tobytes()
    return [Audio(data[i : i + 2 * FRAME]) for i in range(0, len(data), 2 * FRAME)]


async def test_audio_read_while_listening_is_reset_does_not_start_the_next_utterance():
    vad, stt = GatedVad(), RecordingStt()
    engines = Engines(vad=vad, stt=stt, llm=FakeLlm(), tts=FakeTts())
    settings = fast_settings()
    sent = []

    async def send(event):
        sent.append(event)

    finished = FinishedTurns()
    session = DeviceSession("s-1", "owl-1", engines, settings, ServerMetrics(), UsageLimits(settings.usage), None, send,
                            observer=finished)
    session._intake = intake = WatchedIntake(session._intake.maxsize)
    session.start(Hello(audio_params={"format": "pcm16", "sample_rate": 16000, "channels": 1, "frame_duration": 40}))
    try:
        await session.handle(Listen(state="start", mode="auto"))
        for frame in frames(np.concatenate([tone(0.6), silence(0.1)])):  # speech, then a short pause
            await session.handle(frame)
        await intake.handled()
        speculative = session.turn
        assert speculative is not None and not speculative.committed.is_set()

        vad.armed.set()
        for frame in frames(tone(0.04, level=0.9)):  # loud: the old utterance's last frame
            await session.handle(frame)
        assert await asyncio.to_thread(vad.entered.wait, 5)
        await session.handle(Abort(reason="device"))  # the child aborts while the VAD reads that frame
        await asyncio.wait_for(asyncio.wait({speculative.task}), 10)  # it ended, and listening was reset
        assert session.turn is None
        before = len(stt.heard)
        vad.release.set()
        await intake.handled()  # the old frame is through

        for frame in frames(np.concatenate([silence(0.05), tone(0.6), silence(1.5)])):  # the next utterance
            await session.handle(frame)
        await intake.handled()
        answered = await asyncio.wait_for(finished.turns.get(), 10)  # the next utterance's turn, heard and ended
        assert answered.number > speculative.number and len(stt.heard) > before
        loudest = max(float(np.abs(pcm).max()) for pcm in stt.heard[before:])
        assert loudest < 0.5, f"the next utterance starts with the old loud frame ({loudest:.2f})"
    finally:
        vad.release.set()
        await session.close()
        await engines.close()


# -- caps -----------------------------------------------------------------------------------------------


async def test_connections_over_the_per_address_cap_are_refused_1013_with_the_reason(serve):
    async with serve(settings=fast_settings(max_sessions_per_address=2)) as url:
        async with DeviceClient(url, device_id="a"), connect(url, additional_headers={"Device-Id": "b"}):
            # a connection that has not said hello yet takes a place too
            with pytest.raises(Refused) as refused:
                await DeviceClient(url, device_id="c").connect()
            assert (refused.value.code, refused.value.reason) == (1013, "try again later: too many sessions from this address")
        async with DeviceClient(url, device_id="c") as again:  # the places are free again
            assert (await again.ask(QUESTION)).sentences


async def test_connections_over_the_total_cap_are_refused_1013_with_the_reason(serve):
    async with serve(settings=fast_settings(max_sessions=1, max_sessions_per_address=0)) as url:
        async with DeviceClient(url, device_id="a"):
            with pytest.raises(Refused) as refused:
                await DeviceClient(url, device_id="b").connect()
            assert refused.value.code == 1013
            assert refused.value.reason == "try again later: the server has too many device connections"


async def test_a_reconnecting_device_at_the_cap_gets_in_once_its_old_connection_is_gone():
    app = create_app(fast_settings(max_sessions_per_address=1), fake_engines())
    async with serve_in_loop(app) as url:
        old = DeviceClient(url, device_id="owl-1")
        await old.connect()
        old_served = served(app, "owl-1")
        await old.ws.close()  # the device drops; its place is free once the server has seen it go
        await ended(old_served)
        async with DeviceClient(url, device_id="owl-1") as again:
            assert (await again.ask(QUESTION)).sentences


async def test_devices_waiting_to_be_paired_are_capped_per_address(serve):
    settings = fast_settings(pairing="all", max_pending_pairings_per_address=2)
    app = create_app(settings, fake_engines())
    async with serve_in_loop(app) as url:
        one, two = DeviceClient(url, device_id="u-1"), DeviceClient(url, device_id="u-2")
        await one.connect(), await two.connect()
        assert (await one.notice()).state == "code" and (await two.notice()).state == "code"
        two_served = served(app, "u-2")
        with pytest.raises(Refused) as refused:
            await DeviceClient(url, device_id="u-3").connect()
        assert refused.value.code == 1013
        assert refused.value.reason == "try again later: too many devices from this address are waiting to be paired"

        # the same device connecting again replaces its old connection: it is not one more waiting
        async with DeviceClient(url, device_id="u-1") as again:
            assert (await again.notice()).state == "code"
            assert (await closed(one))[0] == 4006
            assert app.state.hoot.pairing.pending("127.0.0.1") == 2
            again_served = served(app, "u-1")
        await two.close()
        await ended(again_served), await ended(two_served)
        assert app.state.hoot.pairing.pending("127.0.0.1") == 0  # the codes are withdrawn
        async with DeviceClient(url, device_id="u-3") as third:  # room again
            assert (await third.notice()).state == "code"
        await one.close()


async def test_paired_devices_get_in_when_connections_without_a_token_fill_the_caps():
    settings = fast_settings(pairing="all", max_sessions=10, max_sessions_per_address=2, max_sessions_without_token=2)
    app = create_app(settings, fake_engines())
    async with serve_in_loop(app) as url, contextlib.AsyncExitStack() as stack:
        for n in range(2):  # strangers waiting with a pairing code hold every place for connections without a token
            stranger = await stack.enter_async_context(DeviceClient(url, device_id=f"stranger-{n}"))
            assert (await stranger.notice()).state == "code"
        with pytest.raises(Refused) as refused:
            await DeviceClient(url, device_id="stranger-3").connect()
        assert refused.value.code == 1013
        devices = []
        for n in range(4):  # more than either cap: a paired device's token counts against max_sessions only
            await app.state.hoot.store.pair_device(f"owl-{n}", f"Table {n}", None, token_hash(f"token-{n}"))
            devices.append(await stack.enter_async_context(DeviceClient(url, token=f"token-{n}", device_id=f"owl-{n}")))
        for device in devices:
            assert (await device.ask(QUESTION)).sentences


async def test_the_hello_is_due_from_the_accept_and_frames_that_are_not_a_hello_do_not_extend_it(serve):
    settings = fast_settings(hello_timeout_s=0.5, max_errors_per_session=10**6)
    async with serve(settings=settings) as url:
        async with connect(url, additional_headers={"Device-Id": "slow-talker"}) as ws:
            give_up_at = asyncio.get_running_loop().time() + 5.0  # ten hello timeouts: the old code never closed it
            with pytest.raises(ConnectionClosed):
                while asyncio.get_running_loop().time() < give_up_at:
                    await ws.send(hootproto.encode(Listen(state="start", mode="auto")))
                    await asyncio.wait_for(ws.recv(), 10)  # an out-of-order alert for each
        assert (ws.close_code, ws.close_reason) == (hootproto.CLOSE_HELLO_TIMEOUT, "no hello within 0.5 s")
