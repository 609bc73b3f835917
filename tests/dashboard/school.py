"""A school on a running server with fake engines: accounts, logged-in API clients, live news. Import the fixtures."""

import asyncio
import json
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import numpy as np
import pytest
from conftest import QUIZ_LESSON, fake_engines, fast_settings, silence, tone

from hootkit.accounts.passwords import hash_password
from hootkit.app import create_app
from hootkit.serving import serve_in_loop

PASSWORD = "owls-see-at-night"
QUESTION = np.concatenate([silence(0.2), tone(0.6)])
PEOPLE = {"ada": "admin", "tom": "teacher", "tina": "teacher", "pat": "parent"}


@dataclass
class School:
    """A running server, its shared state, and ways in for each person."""

    url: str
    base: str
    hoot: object

    def anonymous(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base, timeout=30)

    @asynccontextmanager
    async def login(self, username: str):
        """An API client logged in as `username`, sending its CSRF token on every request."""
        async with self.anonymous() as api:
            response = await api.post("/api/login", json={"username": username, "password": PASSWORD})
            assert response.status_code == 200, response.text
            api.headers["X-CSRF-Token"] = response.json()["csrf"]
            yield api

    async def new_class(self, api: httpx.AsyncClient, name: str) -> int:
        response = await api.post("/api/classes", json={"name": name})
        assert response.status_code == 201, response.text
        return response.json()["id"]

    async def audit(self, action: str | None = None) -> list:
        return [event for event in await self.hoot.store.audit_log() if action is None or event.action == action]


@pytest.fixture
def lessons_dir(tmp_path):  # noqa: D103
    folder = tmp_path / "lessons"
    folder.mkdir()
    (folder / "legs.yaml").write_text(QUIZ_LESSON)
    return folder


@pytest.fixture
def school(lessons_dir):
    """`async with school(**settings) as s`: a server with fake engines and one account per role (the same
    data folder each time within a test, so a second `school()` is the same school after a restart)."""

    @asynccontextmanager
    async def start(stt=None, llm=None, create_accounts=True, **settings):
        settings.setdefault("pairing", "all")
        app = create_app(fast_settings(lessons_dir=lessons_dir, watch_lessons=False, **settings),
                         fake_engines(llm=llm, stt=stt))
        async with serve_in_loop(app) as url:
            hoot = app.state.hoot
            for username, role in PEOPLE.items() if create_accounts else ():
                await hoot.store.add_account(username, await hash_password(PASSWORD), role)
            yield School(url, url.replace("ws://", "http://").split("/v1/")[0], hoot)

    return start


class LiveNews:
    """Reads /api/live in the background; `next(kind)` waits for the next news of that kind."""

    def __init__(self, api: httpx.AsyncClient):
        self.api = api
        self.queue: asyncio.Queue[tuple[str, dict]] = asyncio.Queue()
        self.connected = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> "LiveNews":
        self._task = asyncio.create_task(self._read())
        await asyncio.wait_for(self.connected.wait(), 10)
        return self

    async def __aexit__(self, *exc) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def next(self, kind: str, where=lambda data: True, timeout_s: float = 30) -> dict:
        async def find() -> dict:
            while True:
                got, data = await self.queue.get()
                if got == kind and where(data):
                    return data

        return await asyncio.wait_for(find(), timeout_s)

    async def _read(self) -> None:
        async with self.api.stream("GET", "/api/live") as response:
            assert response.status_code == 200
            kind = None
            async for line in response.aiter_lines():
                if line.startswith(": connected"):
                    self.connected.set()
                elif line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    self.queue.put_nowait((kind, json.loads(line[6:])))
