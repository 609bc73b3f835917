"""Dashboard logins: 401 for strangers, argon2 passwords, session cookies, CSRF, rate limits, roles; all audited."""

import asyncio
import os
import sys
import threading

import httpx
import pytest
from conftest import fake_engines, fast_settings
from school import PASSWORD, lessons_dir, school  # noqa: F401 (fixtures)

from hootkit.accounts import passwords
from hootkit.accounts.known_addresses import FAST_EVERY_S, KEEP_S, MAX_ADDRESSES, KnownAddresses
from hootkit.accounts.passwords import HashingBusy, check_password, hash_password
from hootkit.app import create_app
from hootkit.serving import serve_in_loop


async def test_unauthenticated_calls_get_401_and_land_in_the_audit_log(school):
    async with school() as s, s.anonymous() as api:
        for method, path in (("GET", "/api/devices"), ("POST", "/api/pair"), ("GET", "/api/live"), ("GET", "/api/audit")):
            response = await api.request(method, path, json={})
            assert response.status_code == 401, (path, response.text)
            assert "log in" in response.json()["detail"]
        refused = await s.audit("refused")
    assert {event.target for event in refused} >= {"GET /api/devices", "POST /api/pair"}
    assert all(not event.ok and event.actor == "anonymous" and event.ip == "127.0.0.1" for event in refused)


async def test_login_sets_a_strict_http_only_cookie_and_me_says_who(school):
    async with school() as s, s.anonymous() as api:
        response = await api.post("/api/login", json={"username": "tom", "password": PASSWORD})
        assert response.status_code == 200
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
        me = (await api.get("/api/me")).json()
        assert me["user"]["username"] == "tom" and me["user"]["role"] == "teacher" and me["csrf"]
        stored = await s.hoot.store.account_named("tom")
    assert stored.password_hash.startswith("$argon2id$") and PASSWORD not in stored.password_hash


async def test_changes_without_the_csrf_token_are_refused(school):
    async with school() as s, s.login("tom") as api:
        csrf = api.headers.pop("X-CSRF-Token")
        response = await api.post("/api/classes", json={"name": "4B"})
        assert response.status_code == 403 and "CSRF" in response.json()["detail"]
        api.headers["X-CSRF-Token"] = "forged"
        assert (await api.post("/api/classes", json={"name": "4B"})).status_code == 403
        assert (await api.get("/api/classes")).status_code == 200  # reading needs no token
        api.headers["X-CSRF-Token"] = csrf
        assert (await api.post("/api/classes", json={"name": "4B"})).status_code == 201
        refused = await s.audit("refused")
    assert [event.actor for event in refused] == ["tom", "tom"]


async def test_wrong_passwords_are_rate_limited(school):
    async with school() as s, s.anonymous() as api:
        for _ in range(5):
            response = await api.post("/api/login", json={"username": "tom", "password": "guess-guess"})
            assert response.status_code == 401 and response.json()["detail"] == "wrong user name or password"
        blocked = await api.post("/api/login", json={"username": "tom", "password": PASSWORD})
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
        assert "too many" in blocked.json()["detail"]
        unknown = await api.post("/api/login", json={"username": "nobody", "password": "guess-guess"})
        assert unknown.status_code == 429  # the same address is blocked, whatever the name
        refused = await s.audit("refused")
    assert len(refused) == 7 and refused[0].detail.startswith("429")


async def test_an_account_that_reaches_the_limit_gets_its_own_audit_row_whatever_the_refusal_counting(school):
    async with school() as s, s.anonymous() as api:
        for _ in range(7):
            await api.post("/api/login", json={"username": "tom", "password": "guess-guess"})
        await api.post("/api/login", json={"username": "nobody", "password": "guess-guess"})
        locked = await s.audit("locked")
    assert [(event.actor, event.ok) for event in locked] == [("tom", False)]
    assert locked[0].detail.startswith("5 wrong passwords within 300 s")


async def test_parallel_wrong_passwords_get_no_more_tries_than_the_limit(school):
    """Each try is counted before its password is hashed, so 20 at once cannot all be judged."""
    async with school() as s, s.anonymous() as api:
        answers = await asyncio.gather(*(api.post("/api/login", json={"username": "tom", "password": f"guess-{n}"})
                                         for n in range(20)))
        codes = [answer.status_code for answer in answers]
        assert codes.count(401) == 5 and codes.count(429) == 15, codes
        blocked = await api.post("/api/login", json={"username": "tom", "password": PASSWORD})
        assert blocked.status_code == 429


async def test_a_right_password_clears_the_tries(school):
    async with school() as s, s.anonymous() as api:
        for _ in range(4):
            assert (await api.post("/api/login", json={"username": "tom", "password": "guess-guess"})).status_code == 401
        assert (await api.post("/api/login", json={"username": "tom", "password": PASSWORD})).status_code == 200
        for _ in range(5):
            assert (await api.post("/api/login", json={"username": "tom", "password": "guess-guess"})).status_code == 401
        assert (await api.post("/api/login", json={"username": "tom", "password": PASSWORD})).status_code == 429


async def test_logins_turned_away_while_hashing_is_busy_are_not_counted_as_wrong(school, monkeypatch):
    async with school() as s, s.anonymous() as api:
        monkeypatch.setattr(passwords.hashing, "max_waiting", 0)
        for _ in range(8):
            busy = await api.post("/api/login", json={"username": "tom", "password": "guess-guess"})
            assert busy.status_code == 503 and busy.headers["retry-after"] and "busy" in busy.json()["detail"]
        assert len(s.hoot.login_failures) == 0
        monkeypatch.setattr(passwords.hashing, "max_waiting", 16)
        assert (await api.post("/api/login", json={"username": "tom", "password": PASSWORD})).status_code == 200


class GatedHasher:
    """Stands in for argon2: every verify waits until `release` is set; remembers which threads verified, and how
    many at once."""

    def __init__(self):
        self.threads: set[str] = set()
        self.running = self.most = 0
        self.lock = threading.Lock()
        self.entered = threading.Event()
        self.release = threading.Event()

    def verify(self, password_hash: str, password: str) -> bool:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.threads.add(threading.current_thread().name)
        self.entered.set()
        self.release.wait(10)
        with self.lock:
            self.running -= 1
        return False


async def test_password_hashes_run_on_their_own_bounded_thread_not_the_shared_pool(monkeypatch):
    """A login flood queues on the argon2 thread (or is turned away): the default pool, which the semantic
    guard uses for a child's question, stays free."""
    hasher = GatedHasher()
    monkeypatch.setattr(passwords, "_hasher", hasher)
    flood = [asyncio.create_task(check_password("hash", "guess")) for _ in range(passwords.hashing.max_waiting)]
    try:
        await asyncio.sleep(0)  # each of them queues its hash
        assert passwords.hashing.waiting == passwords.hashing.max_waiting
        assert hasher.entered.wait(10)  # the first one is being hashed, and held there
        with pytest.raises(HashingBusy):
            await check_password("hash", "one too many")
        try:  # what the semantic guard does per question gets a thread of the default pool while every hash is held
            await asyncio.wait_for(asyncio.to_thread(lambda: None), 10)
        except TimeoutError:
            pytest.fail("the default thread pool is stuck behind the password hashes")
        assert passwords.hashing.waiting == passwords.hashing.max_waiting and hasher.running == 1
    finally:
        hasher.release.set()
    assert await asyncio.gather(*flood) == [False] * passwords.hashing.max_waiting
    assert hasher.most == 1 and {name.split("_")[0] for name in hasher.threads} == {"hoot-argon2"}
    assert passwords.hashing.waiting == 0


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread CPU priority is a Linux feature")
async def test_password_hashes_run_at_the_lowest_cpu_priority_so_a_login_flood_cannot_slow_a_reply():
    """The argon2 thread, and any lane thread argon2 starts from it, gives the CPU to the event loop first."""

    def priorities() -> tuple[int, int]:
        inherited = []
        lane = threading.Thread(target=lambda: inherited.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))
        lane.start()
        lane.join()
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id()), inherited[0]

    queue = passwords.HashingQueue()
    assert await queue.run(priorities) == (passwords.BACKGROUND_NICENESS, passwords.BACKGROUND_NICENESS)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < passwords.BACKGROUND_NICENESS  # the loop's own


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread CPU priority is a Linux feature")
async def test_the_known_addresses_lane_keeps_the_servers_own_priority():
    """A teacher's login is not kept waiting behind the models at the lowest priority (review L6)."""
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    queue = passwords.HashingQueue(background=False)
    assert await queue.run(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id())) == own


def lanes() -> tuple[int, int]:
    """How many hashes each lane has run so far: (the lowest priority, known addresses)."""
    return passwords.hashing.ran, passwords.known_hashing.ran


async def test_a_login_from_an_address_that_logged_in_lately_is_hashed_in_its_own_lane_once_a_minute(school, monkeypatch):
    async with school() as s, s.anonymous() as api:
        clock = [s.hoot.known_addresses.clock()]
        s.hoot.known_addresses.clock = lambda: clock[0]

        def a_minute_later() -> None:
            clock[0] += FAST_EVERY_S

        async def log_in(password: str, name: str = "tom") -> tuple[int, int, int]:
            before = lanes()
            status = (await api.post("/api/login", json={"username": name, "password": password})).status_code
            after = lanes()
            return status, after[0] - before[0], after[1] - before[1]

        assert await log_in(PASSWORD) == (200, 1, 0)  # a new address: the lowest priority
        assert await log_in(PASSWORD) == (200, 0, 1)  # it logged in: its own lane
        assert await log_in(PASSWORD) == (200, 1, 0)  # but once a minute: a loop of logins cannot hold that lane
        a_minute_later()
        assert await log_in("guess-guess") == (401, 0, 1)
        a_minute_later()
        assert await log_in("guess-guess") == (401, 1, 0)  # a wrong try within the limit's window: lowest priority
        assert await log_in(PASSWORD) == (200, 1, 0)
        a_minute_later()
        assert await log_in(PASSWORD) == (200, 0, 1)  # back in its lane after a right password
        a_minute_later()  # the lane is chosen by address and name typed, never by whether the account exists
        assert await log_in("guess-guess", name="nobody-here") == (401, 0, 1)
        a_minute_later()
        monkeypatch.setattr(passwords.known_hashing, "max_waiting", 0)  # that lane full: the lowest priority
        assert await log_in(PASSWORD) == (200, 1, 0)
    async with school(create_accounts=False) as s, s.anonymous() as api:  # known from the audit log after a restart
        monkeypatch.setattr(passwords.known_hashing, "max_waiting", 4)
        before = lanes()
        assert (await api.post("/api/login", json={"username": "tom", "password": PASSWORD})).status_code == 200
        assert lanes()[1] - before[1] == 1


def test_known_addresses_are_forgotten_after_30_days_and_past_10000():
    now = [1_000_000.0]
    known = KnownAddresses(clock=lambda: now[0])
    known.add("10.0.0.1")
    known.add("")  # no address: never known
    assert "10.0.0.1" in known and "" not in known
    now[0] += KEEP_S + 1
    assert "10.0.0.1" not in known
    for n in range(MAX_ADDRESSES + 1):
        known.add(f"10.1.{n // 256}.{n % 256}")
    assert "10.1.0.0" not in known and f"10.1.{MAX_ADDRESSES // 256}.{MAX_ADDRESSES % 256}" in known


async def test_logout_ends_the_login(school):
    async with school() as s, s.login("tom") as api:
        assert (await api.post("/api/logout")).status_code == 200
        assert (await api.get("/api/devices")).status_code == 401


async def test_only_admins_set_retention_read_the_audit_log_or_make_accounts(school):
    async with school() as s, s.login("tom") as teacher, s.login("ada") as admin:
        assert (await teacher.put("/api/retention", json={"days": 30, "keep_audio": False})).status_code == 403
        assert (await teacher.get("/api/audit")).status_code == 403
        assert (await teacher.post("/api/accounts", json={"username": "x", "password": PASSWORD, "role": "admin"})).status_code == 403
        assert (await admin.put("/api/retention", json={"days": 30, "keep_audio": False})).status_code == 200
        assert (await teacher.get("/api/retention")).json() == {"days": 30, "keep_audio": False}
        weak = await admin.post("/api/accounts", json={"username": "max", "password": "short", "role": "teacher"})
        assert weak.status_code == 422 and "characters" in weak.json()["detail"]
        made = await admin.post("/api/accounts", json={"username": "max", "password": PASSWORD, "role": "teacher"})
        assert made.status_code == 201
        assert (await admin.post("/api/accounts", json={"username": "max", "password": PASSWORD, "role": "teacher"})).status_code == 409
        actions = [event.action for event in await s.audit()]
    assert "create account" in actions and "retention" in actions


async def test_this_machine_is_admin_only_until_the_first_account_exists(lessons_dir):
    app = create_app(fast_settings(lessons_dir=lessons_dir, watch_lessons=False), fake_engines())
    async with serve_in_loop(app) as url:
        base = url.replace("ws://", "http://").split("/v1/")[0]
        async with httpx.AsyncClient(base_url=base) as api:
            assert (await api.get("/api/me")).json()["user"] == {"id": None, "username": "local", "role": "admin"}
            await app.state.hoot.store.add_account("ada", await hash_password(PASSWORD), "admin")
            assert (await api.get("/api/me")).status_code == 401


async def test_a_server_bound_to_every_address_does_not_make_this_machine_admin(lessons_dir):
    """With host 0.0.0.0 (a port forward or proxy would make strangers look local) nobody is admin for free."""
    app = create_app(fast_settings(host="0.0.0.0", lessons_dir=lessons_dir, watch_lessons=False), fake_engines())
    async with serve_in_loop(app) as url:
        base = url.replace("ws://", "http://").split("/v1/")[0]
        async with httpx.AsyncClient(base_url=base) as api:
            assert await app.state.hoot.store.count_accounts() == 0
            assert (await api.get("/api/me")).status_code == 401
            assert (await api.get("/api/devices")).status_code == 401
