"""create_app(settings) -> FastAPI: models load in the lifespan; nothing starts work at import."""

import asyncio
import logging
import time
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from pathlib import Path

from fastapi import FastAPI, WebSocket
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

import hootproto
from hootkit.accounts.known_addresses import KEEP_S, KnownAddresses
from hootkit.accounts.limits import FailureLimit
from hootkit.engines.languages import Languages
from hootkit.engines.registry import Engines, load_engines_async
from hootkit.dashboard import devices_api, guard_api, knowledge_api, lessons_api, logins, records_api
from hootkit.gateway import echokit, updates, xiaozhi, xiaozhi_ota
from hootkit.dashboard.live import LiveFeed
from hootkit.dashboard.refusals import RefusalLog
from hootkit.gateway.native import DeviceGateway
from hootkit.gateway.elsewhere import COMMANDS, MOST_WAITING, Elsewhere
from hootkit.gateway.pairing import PairingDesk
from hootkit.gateway.recorder import Recorder
from hootkit.knowledge.facts import lesson_facts
from hootkit.lessons.classroom import Classroom
from hootkit.lessons.library import LessonLibrary
from hootkit.pipeline.metrics import ServerMetrics
from hootkit.pipeline.prompt import Conversation
from hootkit.safety.usage import UsageLimits
from hootkit.settings import Settings
from hootkit.store.bus import Bus
from hootkit.store.db import Store, StoreBusy
from hootkit.store.retention import retention_loop

log = logging.getLogger(__name__)
DASHBOARD = Path(__file__).parent / "dashboard" / "static"


class Hoot:
    """The running server's shared state: settings, engines, lessons, metrics, sessions."""

    def __init__(self, settings: Settings, engines: Engines | None):
        self.settings = settings
        self.engines = engines
        self.owns_engines = engines is None
        self.metrics = ServerMetrics()
        self.usage = UsageLimits(settings.usage)
        self.library = LessonLibrary(settings.lessons_dir)
        self.classroom = Classroom(self.library, settings.groups)
        self.store: Store | None = None
        self.bus: Bus | None = None
        self.elsewhere = Elsewhere(self)
        self.refusals: RefusalLog | None = None
        self.live = LiveFeed()
        self.recorder = Recorder(self.live, settings.data_dir / "audio")
        self.pairing = PairingDesk()
        self.login_failures = FailureLimit(max_failures=5, window_s=300)
        self.known_addresses = KnownAddresses()
        self.pair_failures = FailureLimit(max_failures=10, window_s=600)
        self.languages: Languages | None = None
        self.ready = asyncio.Event()
        self.startup: dict[str, object] = {}
        self.background: set[asyncio.Task] = set()
        self.gateway = DeviceGateway(self)


def _index_lesson_facts(hoot: Hoot) -> None:
    """Lessons add their facts to the knowledge base, embedded off the event loop after each change."""
    facts = [fact for lesson in hoot.library.lessons.values() for fact in lesson_facts(lesson)]
    task = asyncio.get_running_loop().create_task(asyncio.to_thread(hoot.engines.knowledge.set_group, "lessons", facts))
    hoot.background.add(task)
    task.add_done_callback(hoot.background.discard)


def create_app(settings: Settings | None = None, engines: Engines | None = None) -> FastAPI:
    """Build the app; pass `engines` to share already-loaded (or fake) engines."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        hoot = Hoot(settings, engines)
        app.state.hoot = hoot
        started = time.perf_counter()
        if hoot.engines is None:
            hoot.engines = await load_engines_async(settings)
            hoot.startup["load_s"] = hoot.engines.load_s
        if settings.warmup:
            hoot.startup["warmup_s"] = await hoot.engines.warmup(Conversation(0).messages("Hello!"))
        hoot.languages = Languages(settings, hoot.engines.stt, hoot.engines.tts)
        if hoot.engines.knowledge is not None:
            hoot.library.listeners.append(lambda: _index_lesson_facts(hoot))
        hoot.library.reload()
        hoot.store = await Store.from_settings(settings)
        hoot.classroom.held.update(await hoot.store.holds())  # before the bus: a resume heard meanwhile stands
        hoot.bus = Bus(hoot.store.engine.url, commands=COMMANDS, most_waiting=MOST_WAITING)
        await hoot.elsewhere.start()
        hoot.refusals = RefusalLog(hoot.store)
        hoot.recorder.start(hoot.store)
        hoot.recorder.keep_audio = (await records_api.retention(hoot))["keep_audio"]
        for assignment in await hoot.store.open_assignments():
            hoot.classroom.resume(assignment.device_id, assignment.lesson_id, assignment.step, assignment.quiz)
        since = datetime.now(UTC) - timedelta(seconds=KEEP_S)
        for address, at in reversed(await hoot.store.login_addresses(since)):
            hoot.known_addresses.add(address, at.timestamp())
        async def retention_days() -> float:
            return (await records_api.retention(hoot))["days"]

        tasks = [asyncio.create_task(retention_loop(hoot.store, retention_days), name="retention")]
        if settings.watch_lessons:
            tasks.append(asyncio.create_task(hoot.library.watch(), name="lessons-watch"))
        hoot.startup["ready_s"] = round(time.perf_counter() - started, 2)
        hoot.ready.set()
        log.info("ready in %.1f s; devices connect to ws://%s:%d%s", hoot.startup["ready_s"], settings.host, settings.port, hootproto.PATH)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await hoot.recorder.stop()
            await hoot.refusals.close()
            await hoot.elsewhere.close()
            await hoot.bus.close()
            await hoot.store.close()
            hoot.languages.close()
            if hoot.owns_engines:
                await hoot.engines.close()

    app = FastAPI(title="Hootkit", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings  # for the uvicorn config (hootkit.serving), before the lifespan runs

    @app.get("/healthz")
    async def healthz() -> Response:
        hoot: Hoot = app.state.hoot
        if not hoot.ready.is_set():
            return JSONResponse({"status": "loading"}, status_code=503)
        # engines behind a network are shared by every Hootkit server, and while one is down devices still hear
        # the apology here: a load balancer should keep sending them (200); monitoring reads "engines"
        engines = await hoot.engines.health()
        status = "ok" if all(state == "ok" for state in engines.values()) else "degraded"
        return JSONResponse({"status": status, "sessions": len(hoot.gateway.sessions), **hoot.startup,
                             **({"engines": engines} if engines else {})})

    @app.exception_handler(StoreBusy)
    async def store_busy(_request, error: StoreBusy) -> Response:
        log.warning("%s", error)
        return JSONResponse({"detail": "the classroom database is busy; try again in a moment"}, status_code=503,
                            headers={"Retry-After": "5"})

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(app.state.hoot.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(updates.router)
    app.include_router(xiaozhi_ota.router)
    for api in (logins, lessons_api, knowledge_api, guard_api, devices_api, records_api):
        app.include_router(api.router)
    app.mount("/dashboard", StaticFiles(directory=DASHBOARD, html=True), name="dashboard")

    @app.get("/", include_in_schema=False)
    async def home() -> Response:
        return RedirectResponse("/dashboard/")

    @app.websocket(hootproto.PATH)
    async def device(ws: WebSocket) -> None:
        await app.state.hoot.gateway.serve(ws)

    async def xiaozhi_device(ws: WebSocket) -> None:
        version = xiaozhi.protocol_version(ws)
        if version is None:
            await ws.accept()
            await ws.close(hootproto.CLOSE_BAD_HELLO, f"Protocol-Version must be one of {', '.join(map(str, xiaozhi.VERSIONS))}")
            return
        await app.state.hoot.gateway.serve(xiaozhi.XiaoZhiSocket(ws, version))

    for path in (xiaozhi.PATH, xiaozhi.PATH.rstrip("/")):
        app.add_api_websocket_route(path, xiaozhi_device)

    @app.websocket("/ws/{device_id}")
    async def echokit_box(ws: WebSocket, device_id: str) -> None:
        await app.state.hoot.gateway.serve(echokit.EchoKitSocket(ws, device_id, voice=lambda: app.state.hoot.engines.tts))

    @app.websocket("/ws/k/{token}/{device_id}")
    async def echokit_box_with_token(ws: WebSocket, token: str, device_id: str) -> None:
        await app.state.hoot.gateway.serve(echokit.EchoKitSocket(ws, device_id, token, voice=lambda: app.state.hoot.engines.tts))

    return app
