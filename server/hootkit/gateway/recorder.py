"""Keeps what happens on devices: sessions and finished turns go to the store, then out to live dashboards.

Writes happen one at a time on a writer task, off the streaming path, in the order they happened; a
turn is committed before any dashboard hears of it. A write the store refuses for a moment (a busy database, a
dropped connection) is tried again a few times; one that still fails is logged and never stops a device.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from hootkit.client.wavio import write_wav
from hootkit.engines.base import STT_RATE
from hootkit.dashboard.live import LiveFeed
from hootkit.gateway.observer import SessionObserver
from hootkit.lessons.progress import progress
from hootkit.pipeline.metrics import TurnClock
from hootkit.safety.redact import redact
from hootkit.store.db import transcript_entry
from hootkit.store.tables import TurnRow

log = logging.getLogger(__name__)
RETRY_WAITS_S = (0.2, 1.0, 5.0)  # after a refusal that may pass (locked, connection lost, pool exhausted)
DOWN_S = 30.0  # after a write failed every try, later writes get one try each for this long


def may_pass(error: Exception) -> bool:
    """Whether the store may take this write if asked again: a busy SQLite, a lost connection, an exhausted pool;
    not a full disk, a read-only database or a broken row."""
    if isinstance(error, (PoolTimeout, ConnectionError, TimeoutError)):
        return True
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, OperationalError) and any(word in str(error.orig).lower() for word in ("locked", "busy"))


def device_state(session) -> dict:
    return {"online": True, "activity": session.activity, "paused": session.held is not None}


class Recorder(SessionObserver):
    """The store's and the dashboards' view of every session."""

    def __init__(self, live: LiveFeed, audio_dir: Path):
        self.live = live
        self.audio_dir = audio_dir
        self.keep_audio = False
        self.store = None
        self._jobs: asyncio.Queue[Callable[[], Awaitable[object]] | None] = asyncio.Queue()
        self._writer: asyncio.Task | None = None
        self._first_turn: dict[str, int] = {}  # session id -> the first turn number that is recorded
        self._store_down_until = 0.0  # loop time until which a write gets one try (the store stayed down)

    def start(self, store) -> None:
        self.store = store
        self._writer = asyncio.create_task(self._write(), name="recorder")

    async def stop(self) -> None:
        """Finish every write already asked for, then stop."""
        if self._writer is not None:
            self._jobs.put_nowait(None)
            await self._writer

    # -- what sessions report ------------------------------------------------------------------

    def opened(self, session) -> None:
        """The device may talk (at once, or once paired): its session and its turns from now on are kept."""
        self._first_turn[session.session_id] = session.turns_started + 1
        self._job(lambda: self.store.start_session(session.session_id, session.device_id))
        self._job(lambda: self.store.seen(session.device_id))
        self.changed(session)

    def closed(self, session, offline: bool = True) -> None:
        """The session is over; `offline`: so is the device (not when a new connection replaced the session)."""
        if offline:
            self.live.publish("device", session.device_id, {"online": False, "activity": "offline", "paused": False})
        if self._first_turn.pop(session.session_id, None) is not None:
            self._job(lambda: self.store.end_session(session.session_id))
            self._job(lambda: self.store.seen(session.device_id))

    def changed(self, session) -> None:
        self.live.publish("device", session.device_id, device_state(session))

    def turn_finished(self, session, turn) -> None:
        if turn.number < self._first_turn.get(session.session_id, turn.number + 1):
            return  # before the device was admitted (an unpaired device's turns are not kept)
        ended = datetime.now(UTC)
        began = turn.clock.speech_end or turn.clock.commit or TurnClock.now()
        run = turn.plan.lesson if turn.plan is not None else None
        record = {
            "session_id": session.session_id, "device_id": session.device_id, "number": turn.number,
            "started_at": ended - timedelta(seconds=max(0.0, TurnClock.now() - began)), "ended_at": ended,
            "outcome": turn.outcome, "error": turn.error[:300] if turn.error else None,
            "transcript": redact(turn.transcript), "reply": redact(" ".join(turn.spoken)),
            "flags": [{"stage": flag.stage, "verdict": flag.verdict, "category": flag.category, "text": redact(flag.text)}
                      for flag in turn.flags],
            "latency": turn.clock.parts() if turn.pcm is not None else {},
            "lesson_id": run.lesson.id if run is not None else None,
            "step_id": (progress(run) or {}).get("step_id"),
            "heard_s": round(len(turn.pcm) / STT_RATE, 2) if turn.pcm is not None else 0.0,
            "reply_s": round(turn.reply_s, 2), "audio_path": None,
        }
        pcm = turn.pcm if self.keep_audio else None

        async def write() -> None:
            if pcm is not None:
                record["audio_path"] = str(await asyncio.to_thread(self._save_audio, record, pcm))
            await self.store.add_turn(**record)
            self.live.publish("turn", session.device_id, transcript_entry(TurnRow(**record)))

        self._job(write)

    def lesson_changed(self, session) -> None:
        shown = progress(session.lesson)
        self.live.publish("lesson", session.device_id, {"lesson": shown})
        if shown is None or session.session_id not in self._first_turn:
            return

        async def write() -> None:
            assignment = await self.store.open_assignment(session.device_id)
            if assignment is not None and assignment.lesson_id == shown["lesson"]:
                await self.store.update_assignment(assignment.id, shown["step"], shown["finished"], shown["quiz"])

        self._job(write)

    # -- the writer ------------------------------------------------------------------------------

    def _job(self, job: Callable[[], Awaitable[object]]) -> None:
        if self._writer is not None:
            self._jobs.put_nowait(job)

    async def _write(self) -> None:
        while (job := await self._jobs.get()) is not None:
            await self._try(job)

    async def _try(self, job: Callable[[], Awaitable[object]]) -> None:
        """Run one write; one the store may take later is tried again after each of RETRY_WAITS_S, unless the store
        stayed down a moment ago (then the writes queued behind wait no more)."""
        loop = asyncio.get_running_loop()
        waits = list(RETRY_WAITS_S) if loop.time() >= self._store_down_until else []
        tries = 1
        while True:
            try:
                await job()
                self._store_down_until = 0.0
                return
            except Exception as error:
                passing = may_pass(error)
                if not (passing and waits):
                    log.exception("could not record to the store (%d tries); the device goes on", tries)
                    if passing:
                        self._store_down_until = loop.time() + DOWN_S
                    return
                wait_s = waits.pop(0)
                log.warning("the store refused a write (%s); trying again in %.1f s", error, wait_s)
                await asyncio.sleep(wait_s)
                tries += 1

    def _save_audio(self, record: dict, pcm: np.ndarray) -> Path:
        self.audio_dir.mkdir(parents=True, exist_ok=True)
        path = self.audio_dir / f"{record['session_id']}-{record['number']}.wav"
        write_wav(path, (np.clip(pcm, -1, 1) * 32767).astype(np.int16).tobytes(), STT_RATE)
        return path
