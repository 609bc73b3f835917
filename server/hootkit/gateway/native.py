"""The native device websocket: frames <-> hootproto <-> a DeviceSession, with clear refusals and pairing.

One session per device: a session is registered (by device id) once its `hello` is accepted, and a new
connection for a device replaces the old one explicitly (closed with 4006). Connections are capped in all;
those without a device token also in all and per client address, and unpaired devices waiting with a code
per address (1013, "try again later"). The hello is due within hello_timeout_s of the accept."""

import asyncio
import logging
import time
import uuid
from collections import Counter
from dataclasses import dataclass

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

import hootproto
from hootkit.engines.models import ModelMissing
from hootkit.gateway.auth import Admission, admit_device, bearer_token
from hootkit.gateway.observer import SessionObserver
from hootkit.gateway.pairing import TURNED_AWAY
from hootkit.gateway.session import DeviceSession
from hootproto import Alert, Audio, Hello, LocalProtocolError, ProtocolError, ServerConnection

log = logging.getLogger(__name__)

CLOSE_TRY_AGAIN = 1013
CLOSE_REPLACED = 4006
REPLACED = "replaced by a new connection"
REPLACED_CLOSE_S = 2.0  # a replaced connection's peer is often gone: its close handshake is not waited for longer
CAP_LOG_S = 60.0
CANNOT_PAIR = "this device cannot keep a pairing token: put a device token in its server URL (/ws/k/TOKEN)"  # a refusal for a cap is logged at most once a minute per kind


@dataclass(eq=False)
class Link:
    """One open device websocket, from accept to close."""

    ws: WebSocket
    address: str
    task: asyncio.Task | None = None
    in_loop: bool = False  # reading frames (a replacement may cancel it only then)
    by_token: bool = False  # admitted by a device token: not counted against the caps for connections without one
    ended_by: tuple[int, str] | None = None  # (close code, reason) when the server ends it from outside


def client_address(ws: WebSocket) -> str:
    """The client's address (a trusted proxy's X-Forwarded-For is already applied by uvicorn)."""
    return ws.client.host if ws.client else ""


class DeviceGateway:
    """Serves /v1/device: caps, authenticates, shakes hands, then feeds events to the device's session."""

    def __init__(self, hoot):
        self.hoot = hoot
        self.sessions: dict[str, DeviceSession] = {}  # device id -> its session, once it said hello
        self._links: dict[str, Link] = {}  # device id -> the connection of its session
        self._open: Counter[str] = Counter()  # client address -> open device connections without a token
        self._open_without_token = 0
        self._open_total = 0
        self._cap_logged: dict[str, float] = {}

    async def serve(self, ws: WebSocket) -> None:
        link = Link(ws, client_address(ws), asyncio.current_task())
        if full := self._full_in_all():  # nothing else is done for it: no token lookup, no session
            await ws.accept()
            await self._close(ws, CLOSE_TRY_AGAIN, full)
            return
        self._count(link, 1)  # as a connection without a token until its admission says otherwise
        over_cap = self._over_cap_without_token(link)  # judged in order of arrival; a device token lifts it
        try:
            await ws.accept()
            if not self.hoot.ready.is_set():
                await ws.close(CLOSE_TRY_AGAIN, "server is still loading its models; try again shortly")
                return
            admission = await admit_device(ws, self.hoot.settings, self.hoot.store)
            if admission.by_token:
                self._count(link, -1)
                link.by_token = True
                self._count(link, 1)
            elif over_cap:
                await self._close(ws, CLOSE_TRY_AGAIN, over_cap)
                return
            await self._serve(link, admission)
        finally:
            self._count(link, -1)

    def _count(self, link: Link, change: int) -> None:
        self._open_total += change
        if not link.by_token:
            self._open_without_token += change
            self._open[link.address] += change
            if not self._open[link.address]:
                del self._open[link.address]

    async def _serve(self, link: Link, admission: Admission) -> None:
        ws = link.ws
        if admission.refusal:
            await self._refuse(ws, hootproto.CLOSE_UNAUTHORIZED, "unauthorized", admission.refusal)
            return
        if admission.needs_pairing and not getattr(ws, "can_pair", True):
            await self._refuse(ws, hootproto.CLOSE_UNAUTHORIZED, "unauthorized", CANNOT_PAIR)
            return
        if admission.needs_pairing and self.hoot.pairing.turned_away(admission.device_id, link.address):
            await self._refuse(ws, hootproto.CLOSE_UNAUTHORIZED, "unauthorized", TURNED_AWAY)
            return
        if admission.needs_pairing and (full := self._pairings_full(link.address, admission.device_id)):
            await self._close(ws, CLOSE_TRY_AGAIN, full)
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
                try:
                    if isinstance(frame, bytes):
                        await ws.send_bytes(frame)
                    else:
                        await ws.send_text(frame)
                except (WebSocketDisconnect, RuntimeError, OSError) as gone:  # the server or the peer closed it meanwhile
                    raise ConnectionError(f"device is gone ({type(gone).__name__})") from None

        hoot = self.hoot
        session = DeviceSession(
            session_id, admission.device_id, hoot.engines, hoot.settings, hoot.metrics, hoot.usage, hoot.languages, send,
            observer=hoot.recorder, device_tools=lambda: getattr(ws, "tools", None),
        )
        self.hoot.metrics.sessions.inc()
        log.info("device %s connected (session %s%s)", session.device_id, session_id,
                 ", to be paired" if admission.needs_pairing else "")
        try:
            link.in_loop = True
            try:
                await self._loop(link, conn, session, send, admission)
            finally:
                link.in_loop = False
        except (WebSocketDisconnect, ConnectionError):  # the device went, or its connection was closed under us
            pass
        except asyncio.CancelledError:
            if link.ended_by is None:
                raise
            asyncio.current_task().uncancel()  # replaced by a new connection (_retire) or forgotten (end)
            try:
                await asyncio.wait_for(self._close(ws, *link.ended_by), REPLACED_CLOSE_S)
            except TimeoutError:
                pass
        except Exception:
            log.exception("session %s failed", session_id)
            await self._close(ws, 1011, "internal error; please reconnect")
        finally:
            hoot.pairing.withdraw(session)
            await session.close()
            if self.sessions.get(session.device_id) is session:  # else it never said hello, or was replaced
                if session.lesson is not None:
                    hoot.classroom.keep(session.device_id, session.lesson)
                del self.sessions[session.device_id]
                del self._links[session.device_id]
                hoot.recorder.closed(session)
            self.hoot.metrics.sessions.dec()

    def _register(self, session: DeviceSession, link: Link) -> None:
        """`session` said hello: it is the device's session now, replacing the one before it, if any."""
        old = self.sessions.get(session.device_id)
        if old is not None:
            self._retire(old)
        self.sessions[session.device_id] = session
        self._links[session.device_id] = link

    def _retire(self, old: DeviceSession) -> None:
        """A new connection for the same device: the old session hands on where it was in its lesson and
        ends its store session, without telling dashboards the device is offline, and is heard from no more;
        its connection is closed with 4006 and does no cleanup of the device's shared state."""
        device = old.device_id
        link = self._links.pop(device)
        del self.sessions[device]
        link.ended_by = (CLOSE_REPLACED, REPLACED)
        self.hoot.pairing.withdraw(old)
        if old.lesson is not None:
            self.hoot.classroom.keep(device, old.lesson)
        self.hoot.recorder.closed(old, offline=False)
        old.observer = SessionObserver()  # what it does while it ends (a turn cancelled) is news to nobody
        log.info("device %s reconnected: session %s is replaced", device, old.session_id)
        if link.in_loop and link.task is not None:
            link.task.cancel()  # it is waiting for a frame (or sending one): it ends at once

    def end(self, device_id: str, reason: str) -> None:
        """Close the device's connection now (4001 with `reason`), e.g. once a teacher has forgotten it."""
        link = self._links.get(device_id)
        if link is not None and link.in_loop and link.task is not None and link.ended_by is None:
            link.ended_by = (hootproto.CLOSE_UNAUTHORIZED, reason)
            link.task.cancel()

    def _full_in_all(self) -> str | None:
        """Why one more device connection of any kind is refused now, or None."""
        cap = self.hoot.settings.max_sessions
        if cap and self._open_total >= cap:
            return self._cap("total", "try again later: the server has too many device connections")
        return None

    def _over_cap_without_token(self, link: Link) -> str | None:
        """Why `link`, counted already, is one connection without a device token too many, or None."""
        settings = self.hoot.settings
        if settings.max_sessions_without_token and self._open_without_token > settings.max_sessions_without_token:
            return self._cap("without token", "try again later: too many devices without a token are connected")
        if settings.max_sessions_per_address and self._open[link.address] > settings.max_sessions_per_address:
            return self._cap("address", "try again later: too many sessions from this address")
        return None

    def _pairings_full(self, address: str, device_id: str) -> str | None:
        """Why an unpaired device from `address` may not wait with a code now, or None (the session of the
        same device, which the new one replaces, does not count)."""
        if self.hoot.settings.max_pending_pairings and self.hoot.pairing.total() >= self.hoot.settings.max_pending_pairings:
            return self._cap("pairing total", "try again later: too many devices are waiting to be paired")
        cap = self.hoot.settings.max_pending_pairings_per_address
        if cap and self.hoot.pairing.pending(address, besides=self.sessions.get(device_id)) >= cap:
            return self._cap("pairing", "try again later: too many devices from this address are waiting to be paired")
        return None

    def _cap(self, kind: str, reason: str) -> str:
        now = time.monotonic()
        if now - self._cap_logged.get(kind, -CAP_LOG_S) >= CAP_LOG_S:
            self._cap_logged[kind] = now
            log.warning("device connection refused (%s); more such refusals are not logged for %g s", reason, CAP_LOG_S)
        return reason

    async def _loop(self, link: Link, conn: ServerConnection, session: DeviceSession, send, admission: Admission) -> None:
        ws = link.ws
        settings = self.hoot.settings
        errors = 0
        hello_by = time.monotonic() + settings.hello_timeout_s  # from the accept: frames that are no hello do not extend it
        while True:
            timeout = None if conn.hello_sent else max(0.0, hello_by - time.monotonic())
            try:
                message = await asyncio.wait_for(ws.receive(), timeout)
            except TimeoutError:
                await self._refuse(ws, hootproto.CLOSE_HELLO_TIMEOUT, "hello_timeout", "no hello within %g s" % settings.hello_timeout_s)
                return
            if message["type"] == "websocket.disconnect":
                return
            frame = message.get("bytes") if message.get("bytes") is not None else message.get("text")
            try:
                if "problem" in message:  # a frame a translating socket (gateway/xiaozhi.py) could not translate
                    raise message["problem"]
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
                    if admission.needs_pairing and (full := self._pairings_full(link.address, session.device_id)):
                        await self._refuse(ws, CLOSE_TRY_AGAIN, "try_again", full, send)
                        return
                    if changed := await self._admission_changed(ws, admission):
                        await self._refuse(ws, hootproto.CLOSE_UNAUTHORIZED, "unauthorized", changed, send)
                        return
                    self._register(session, link)  # teachers' commands reach it from now on
                    session.start(event)
                    await send(self._server_hello(event, session))
                    if admission.needs_pairing:
                        session.await_pairing(await self.hoot.pairing.offer(session, link.address, bearer_token(ws)))
                    else:
                        self.welcome(session)
                else:
                    await session.handle(event)

    def tools_of(self, device: str):
        """The tools the device's connection offers (a XiaoZhi device's MCP tools), or None."""
        link = self._links.get(device)
        return getattr(link.ws, "tools", None) if link is not None else None

    async def _admission_changed(self, ws, admission: Admission) -> str | None:
        """Why the connection may no longer be let in at its hello, or None: the id was paired meanwhile (only
        its token may use it now), or its token was forgotten meanwhile."""
        again = await admit_device(ws, self.hoot.settings, self.hoot.store)
        if again.refusal:
            return again.refusal
        if again.needs_pairing and not admission.needs_pairing:
            return "this device's token no longer lets it in (it was forgotten): pair it again"
        return None

    def sessions_of(self, device: str) -> list[DeviceSession]:
        """The device's session (it has said hello), as a list: empty when it is offline."""
        session = self.sessions.get(device)
        return [session] if session is not None else []

    def welcome(self, session: DeviceSession, greeting: str | None = None) -> None:
        """A device that may talk: its session is recorded, a teacher's pause holds again, its lesson goes on;
        else it says `greeting`, if any. A session that is gone meanwhile (closed or replaced) is left alone."""
        if self.sessions.get(session.device_id) is not session:
            return
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
            except (RuntimeError, ConnectionError, WebSocketDisconnect):  # the peer is gone already
                pass
