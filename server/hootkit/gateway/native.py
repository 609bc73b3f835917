"""The native device websocket: frames <-> hootproto <-> a DeviceSession, with clear refusals and pairing."""

import asyncio
import logging
import uuid

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

import hootproto
from hootkit.engines.models import ModelMissing
from hootkit.gateway.auth import Admission, admit_device
from hootkit.gateway.session import DeviceSession
from hootproto import Alert, Audio, Hello, LocalProtocolError, ProtocolError, ServerConnection

log = logging.getLogger(__name__)


class DeviceGateway:
    """Serves /v1/device: authenticates, shakes hands, then feeds events to the device's session."""

    def __init__(self, hoot):
        self.hoot = hoot
        self.sessions: dict[str, DeviceSession] = {}

    async def serve(self, ws: WebSocket) -> None:
        await ws.accept()
        if not self.hoot.ready.is_set():
            await ws.close(1013, "server is still loading its models; try again shortly")
            return
        admission = await admit_device(ws, self.hoot.settings, self.hoot.store)
        if admission.refusal:
            await self._refuse(ws, hootproto.CLOSE_UNAUTHORIZED, "unauthorized", admission.refusal)
            return
        conn = ServerConnection()
        lock = asyncio.Lock()
        session_id = uuid.uuid4().hex[:12]

        async def send(event: object) -> None:
            async with lock:
                try:
                    frame = conn.send(event)
                except LocalProtocolError:
                    if isinstance(event, Audio):
                        return  # a frame of a turn the device aborted: never sent
                    raise
                if ws.application_state != WebSocketState.CONNECTED:
                    raise ConnectionError("device is gone")
                if isinstance(frame, bytes):
                    await ws.send_bytes(frame)
                else:
                    await ws.send_text(frame)

        hoot = self.hoot
        session = DeviceSession(
            session_id, admission.device_id, hoot.engines, hoot.settings, hoot.metrics, hoot.usage, hoot.languages, send,
            observer=hoot.recorder,
        )
        self.sessions[session_id] = session
        self.hoot.metrics.sessions.inc()
        log.info("device %s connected (session %s%s)", session.device_id, session_id,
                 ", to be paired" if admission.needs_pairing else "")
        try:
            await self._loop(ws, conn, session, send, admission)
        except WebSocketDisconnect:
            pass
        except Exception:
            log.exception("session %s failed", session_id)
            await self._close(ws, 1011, "internal error; please reconnect")
        finally:
            hoot.pairing.withdraw(session)
            await session.close()
            if session.lesson is not None:
                hoot.classroom.keep(session.device_id, session.lesson)
            del self.sessions[session_id]
            hoot.recorder.closed(session)
            self.hoot.metrics.sessions.dec()

    async def _loop(self, ws: WebSocket, conn: ServerConnection, session: DeviceSession, send, admission: Admission) -> None:
        settings = self.hoot.settings
        errors = 0
        while True:
            timeout = None if conn.hello_sent else settings.hello_timeout_s
            try:
                message = await asyncio.wait_for(ws.receive(), timeout)
            except TimeoutError:
                await self._refuse(ws, hootproto.CLOSE_HELLO_TIMEOUT, "hello_timeout", "no hello within %g s" % timeout)
                return
            if message["type"] == "websocket.disconnect":
                return
            frame = message.get("bytes") if message.get("bytes") is not None else message.get("text")
            try:
                if frame is not None and len(frame) > settings.audio.max_frame_bytes:
                    raise ProtocolError(
                        "frame of %d bytes is over the %d byte limit" % (len(frame), settings.audio.max_frame_bytes), "too_large"
                    )
                events = conn.receive(frame)
            except ProtocolError as error:
                errors += 1
                self.hoot.metrics.protocol_errors.labels(error.code).inc()
                await send(Alert(status="error", message=error.message, code=error.code))
                if errors > settings.max_errors_per_session:
                    await self._close(ws, hootproto.CLOSE_TOO_MANY_ERRORS, "too many bad frames")
                    return
                continue
            for event in events:
                if isinstance(event, Hello):
                    problem = self._check_hello(event)
                    if problem:
                        await self._refuse(ws, hootproto.CLOSE_BAD_HELLO, "unsupported_audio", problem, send)
                        return
                    await send(self._server_hello(event, session))
                    session.start(event)
                    if admission.needs_pairing:
                        session.await_pairing(self.hoot.pairing.offer(session))
                    else:
                        self.welcome(session)
                else:
                    await session.handle(event)

    def sessions_of(self, device: str) -> list[DeviceSession]:
        return [session for session in self.sessions.values() if session.device_id == device]

    def welcome(self, session: DeviceSession, greeting: str | None = None) -> None:
        """A device that may talk: its session is recorded, a teacher's pause holds again, its lesson goes on;
        else it says `greeting`, if any."""
        self.hoot.recorder.opened(session)
        held = self.hoot.classroom.held.get(session.device_id)
        if held is not None:
            session.control(held)
        if not self._resume_lesson(session) and held is None and greeting:
            session.say(greeting)

    def _resume_lesson(self, session: DeviceSession) -> bool:
        """A device with a lesson assigned (or one it was in when it dropped) starts or goes on with it."""
        run = self.hoot.classroom.runs.get(session.device_id)
        if run is None or run.finished:
            return False

        async def start() -> None:
            try:
                await session.start_lesson(run)
            except ModelMissing:
                self.hoot.classroom.end(session.device_id)  # the device has been told; the teacher sees it gone

        session.background(start(), "lesson")
        return True

    def _check_hello(self, hello: Hello) -> str | None:
        params = hello.audio_params
        rates = self.hoot.settings.audio.input_rates
        if params["format"] != "pcm16":
            return "audio format %r is not supported yet; send pcm16" % params["format"]
        if params["sample_rate"] not in rates:
            return "sample_rate %d is not supported; use one of %s" % (params["sample_rate"], ", ".join(map(str, rates)))
        return None

    def _server_hello(self, hello: Hello, session: DeviceSession) -> Hello:
        downlink = {
            "format": "pcm16",
            "sample_rate": hello.audio_params["sample_rate"],
            "channels": 1,
            "frame_duration": self.hoot.settings.audio.downlink_frame_ms,
        }
        return Hello(session_id=session.session_id, audio_params=downlink, features={"metrics": True})

    async def _refuse(self, ws: WebSocket, code: int, alert_code: str, message: str, send=None) -> None:
        alert = Alert(status="error", message=message, code=alert_code)
        try:
            if send is not None:
                await send(alert)
            else:
                await ws.send_text(hootproto.encode(alert))
        except (ConnectionError, RuntimeError, WebSocketDisconnect):
            pass
        await self._close(ws, code, message)

    async def _close(self, ws: WebSocket, code: int, reason: str) -> None:
        if ws.application_state == WebSocketState.CONNECTED:
            try:
                await ws.close(code, reason[:120])
            except (RuntimeError, ConnectionError):
                pass
