"""News between the Hootkit servers that share one PostgreSQL store, over its LISTEN/NOTIFY: no other broker.

A teacher logged in on one server pauses a device held by another; a turn finished on one shows on every
server's live transcript. Each message says which server sent it; a server ignores its own. With SQLite there
is one server, and the bus tells nobody.

Every message is signed (HMAC-SHA256) with a key kept in the store, which only roles that can read Hootkit's
tables can learn: a role that may merely connect to the database can NOTIFY, but a server ignores what it did not
sign. A message carries when it was sent and its number from its sender (each server numbers what it sends, in
order, on one connection); it is taken within MAX_AGE_S, and only after a lower number from that sender, so an
old message sent again is ignored too.

Teachers' commands and dashboard news go out in two queues: commands first, never dropped, and tried again
while PostgreSQL is away (for up to COMMAND_KEEP_S); news is dropped when its queue is full or cannot be sent.
A kind of command that anyone can cause (a wrong login's limit change) can be given a smaller share of the
command queue, so it never crowds out a teacher's.
"""

import asyncio
import hashlib
import hmac
import itertools
import json
import logging
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable

from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

CHANNEL = "hootkit"
MAX_PAYLOAD = 7900  # bytes; PostgreSQL refuses a NOTIFY payload of 8000 or more
SIGNATURE_CHARS = 64  # the hex HMAC-SHA256 in front of each message, and a "." after it
STAMP_CHARS = 60  # room kept for when a message is sent and its number, added as it goes out
MAX_BODY = MAX_PAYLOAD - SIGNATURE_CHARS - 1 - STAMP_CHARS
MAX_AGE_S = 60.0  # a message sent longer ago (or later, by the sender's clock) is ignored; servers keep NTP time
MAX_SENDERS = 1000  # servers whose last message number is remembered (the longest silent forgotten first)
REFUSAL_LOG_S = 10.0  # messages ignored are logged at most this often, with how many there were
NEWS_QUEUE = 1000  # news waiting to go out; past this, news is dropped (and logged), never waited for
MAX_COMMANDS = 10_000  # commands waiting (a teacher cannot make more in the time PostgreSQL may be away)
COMMAND_KEEP_S = 120.0  # a command that could not be sent for this long is given up (and logged)
START_S = 10.0  # how long start waits to be listening before the server goes on without
PING_S = 30.0  # the listening connection is checked this often: a half-open connection never says it is lost
RECONNECT_S = (0.5, 1.0, 2.0, 5.0)  # waits between tries to listen or send again, the last repeated
TRIMMED_FIELDS = ("transcript", "reply", "text")  # cut, in this order, from news too big to send
TRIM_CHARS = 500


class Bus:
    """`start(hear)`, then `send(kind, data)`: every other server's `hear(kind, data, sender)` gets it, in order
    (commands before news)."""

    def __init__(self, store_url, commands: tuple[str, ...] = (), most_waiting: dict[str, int] | None = None):
        url = make_url(store_url)
        self.key: bytes | None = None  # the servers' shared signing key, from the store at start
        self._sent = itertools.count()  # each message's number, so no two are alike
        self._last_number: dict[str, int] = {}  # sender -> the number of its last message taken, longest silent first
        self._ignored = 0
        self._ignored_logged = 0.0
        self.dsn = _asyncpg_dsn(url) if url.get_backend_name() == "postgresql" else None
        self.commands = commands  # the kinds that are never dropped
        self.most_waiting = most_waiting or {}  # commands of these kinds beyond this many waiting are dropped
        self._waiting_of: Counter[str] = Counter()
        self.server_id = uuid.uuid4().hex
        self._hear: Callable[[str, dict, str], None] | None = None
        self._listener = None
        self._teller = None
        self._commands: deque[tuple[float, str, str]] = deque()  # (queued at, kind, payload)
        self._news: deque[str] = deque()
        self._waiting = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self.listening = asyncio.Event()
        self.on_listening: Callable[[], None] | None = None  # called each time listening starts (again)

    @property
    def shared(self) -> bool:
        """Whether other servers may share the store (PostgreSQL)."""
        return self.dsn is not None

    async def start(self, hear: Callable[[str, dict, str], None], key: bytes = b"") -> None:
        """Listen (and keep listening, across lost connections) until `close`, with `key` signing and checking
        every message; returns once listening, or at once on SQLite."""
        self._hear = hear
        if not self.shared:
            return
        if len(key) < 32:
            raise ValueError("the bus needs a signing key of at least 32 bytes")
        self.key = key
        self._tasks = [asyncio.create_task(self._listen(), name="bus-listen"),
                       asyncio.create_task(self._send_all(), name="bus-send")]
        try:
            await asyncio.wait_for(self.listening.wait(), START_S)
        except TimeoutError:
            log.warning("bus: not listening after %g s; going on, and trying again meanwhile", START_S)

    async def _listen(self) -> None:
        import asyncpg

        tries = 0
        while True:
            lost = asyncio.Event()
            try:
                self._listener = await asyncpg.connect(self.dsn, timeout=10)
                self._listener.add_termination_listener(lambda _connection: lost.set())
                await self._listener.add_listener(CHANNEL, self._heard)
                tries = 0
                self.listening.set()
                if self.on_listening is not None:
                    self.on_listening()
                while not lost.is_set():
                    try:
                        await asyncio.wait_for(lost.wait(), PING_S)
                    except TimeoutError:
                        await self._listener.execute("SELECT 1", timeout=5)
                log.warning("bus: lost the connection to PostgreSQL; listening again")
            except asyncio.CancelledError:
                raise
            except Exception as error:  # PostgreSQL down, restarting, or gone quiet: keep trying
                log.warning("bus: cannot listen on PostgreSQL (%r); trying again", error)
            self.listening.clear()
            if self._listener is not None:
                self._listener.terminate()
                self._listener = None
            await asyncio.sleep(RECONNECT_S[min(tries, len(RECONNECT_S) - 1)])
            tries += 1

    def _heard(self, _connection, _pid, _channel, payload: str) -> None:
        message = self._opened(payload)
        if message is None or message["from"] == self.server_id or self._hear is None:
            return
        try:
            self._hear(message["kind"], message["data"], message["from"])
        except Exception:  # one bad message never stops the bus
            log.exception("bus: handling %s failed", message["kind"])

    def _opened(self, payload: str) -> dict | None:
        """The message in `payload` if a server sharing the key signed it, less than MAX_AGE_S ago, and it comes
        after the last one taken from its sender; else None (and counted for the log)."""
        try:
            signature, _, body = payload.partition(".")
            if self.key is None or not hmac.compare_digest(signature.encode(), _signature(self.key, body).encode()):
                return self._ignore("not signed with this store's key", payload)
            message = json.loads(body)
            sender, kind, data, sent, number = (message["from"], message["kind"], message["data"], message["at"],
                                                message["n"])
            if not (isinstance(sender, str) and isinstance(kind, str) and isinstance(data, dict)
                    and type(sent) is float and type(number) is int):
                raise TypeError("wrong types")
        except (ValueError, KeyError, TypeError, RecursionError) as error:  # UnicodeError is a ValueError
            return self._ignore(f"not understood ({error!r})", payload)
        if sender == self.server_id:
            return message
        age = time.time() - sent
        if not abs(age) <= MAX_AGE_S:  # NaN included
            return self._ignore(f"stamped {age:+.0f} s from this server's clock", payload)
        last = self._last_number.pop(sender, None)
        if last is not None and number <= last:
            self._last_number[sender] = last
            return self._ignore("already taken", payload)
        self._last_number[sender] = number
        if len(self._last_number) > MAX_SENDERS:
            del self._last_number[next(iter(self._last_number))]
        return message

    def _ignore(self, why: str, payload: str) -> None:
        """Count a message that is not taken; say so in the log, at most every REFUSAL_LOG_S."""
        self._ignored += 1
        now = time.monotonic()
        if now - self._ignored_logged >= REFUSAL_LOG_S:
            log.warning("bus: ignored %d message(s) that are not ours; the last %s: %.100r", self._ignored, why, payload)
            self._ignored, self._ignored_logged = 0, now
        return None

    def send(self, kind: str, data: dict) -> None:
        """Queue a message for the other servers (nothing on SQLite); never waits, never raises."""
        if not self.shared:
            return
        try:
            payload = encode(self.server_id, kind, data)
        except (TypeError, ValueError) as error:  # not JSON, or text that is not Unicode
            log.warning("bus: %s about %s cannot be sent (%r)", kind, data.get("device_id"), error)
            return
        if payload is None:
            log.warning("bus: %s about %s too big to send", kind, data.get("device_id"))
        elif kind in self.commands:
            if len(self._commands) >= MAX_COMMANDS or self._waiting_of[kind] >= self.most_waiting.get(kind, MAX_COMMANDS):
                log.warning("bus: %d commands waiting; dropped %s for %s", len(self._commands), kind, data.get("device_id"))
                return
            self._commands.append((time.monotonic(), kind, payload))
            self._waiting_of[kind] += 1
        elif len(self._news) >= NEWS_QUEUE:
            log.warning("bus: %d news waiting; dropped %s about %s", NEWS_QUEUE, kind, data.get("device_id"))
            return
        else:
            self._news.append(payload)
        self._waiting.set()

    async def _send_all(self) -> None:
        """Send commands, then news, in order, on a connection of their own. A command that could not be sent
        is tried again (for COMMAND_KEEP_S); news that could not be sent is lost."""
        tries = 0
        while True:
            if not (self._commands or self._news):
                self._waiting.clear()
                await self._waiting.wait()
            command = bool(self._commands)
            queued, _kind, payload = self._commands[0] if command else (0.0, "news", self._news[0])
            if command and time.monotonic() - queued > COMMAND_KEEP_S:
                self._sent_command()
                log.warning("bus: gave up a command the other servers could not be told for %g s", COMMAND_KEEP_S)
                continue
            try:
                await self._notify(payload)
                tries = 0
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("bus: could not tell the other servers (%r)", error)
                if self._teller is not None:
                    self._teller.terminate()
                    self._teller = None
                if not command:
                    self._news.popleft()
                await asyncio.sleep(RECONNECT_S[min(tries, len(RECONNECT_S) - 1)])
                tries += 1
                continue
            if command:
                self._sent_command()
            else:
                self._news.popleft()

    def sealed(self, body: str) -> str:
        """The NOTIFY payload for an encoded message going out now: the message stamped with the time and its
        number (so no two are alike), after its signature and a "."."""
        body = f'{body[:-1]}, "at": {time.time()!r}, "n": {next(self._sent)}}}'
        return f"{_signature(self.key, body)}.{body}"

    def _sent_command(self) -> None:
        """The first command waiting is done with (sent, or given up)."""
        _queued, kind, _payload = self._commands.popleft()
        self._waiting_of[kind] -= 1

    async def _notify(self, payload: str) -> None:
        import asyncpg

        if self._teller is None or self._teller.is_closed():
            self._teller = await asyncpg.connect(self.dsn, timeout=5)
        await self._teller.execute("SELECT pg_notify($1, $2)", CHANNEL, self.sealed(payload), timeout=5)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for connection in (self._listener, self._teller):
            if connection is not None and not connection.is_closed():
                try:
                    await connection.close(timeout=2)
                except Exception:  # a connection that does not close in time is cut
                    connection.terminate()


def _asyncpg_dsn(url) -> str:
    """asyncpg's connection string for SQLAlchemy's `postgresql+asyncpg://` url (its `ssl=` is libpq's `sslmode=`)."""
    query = dict(url.query)
    if "ssl" in query:
        query["sslmode"] = query.pop("ssl")
    return url.set(drivername="postgresql", query=query).render_as_string(hide_password=False)


def _signature(key: bytes, body: str) -> str:
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


def encode(server_id: str, kind: str, data: dict) -> str | None:
    """A message as JSON; long texts in the data (or in the news it carries) are cut until it fits a NOTIFY with
    its stamp and signature; None if it still does not. Raises ValueError for text that cannot be sent (a lone
    surrogate)."""

    def dump(data: dict) -> str:
        body = json.dumps({"from": server_id, "kind": kind, "data": data}, ensure_ascii=False)
        return body if len(body.encode()) <= MAX_BODY else ""

    body = dump(data)
    for field in TRIMMED_FIELDS:
        if body:
            break
        data = _trimmed(data, field)
        body = dump(data)
    return body or None


def _trimmed(data: dict, field: str) -> dict:
    """`data` with its `field` (and that of the news it carries, under "data") cut to TRIM_CHARS."""
    data = dict(data)
    if isinstance(data.get(field), str):
        data[field] = data[field][:TRIM_CHARS]
    if isinstance(data.get("data"), dict):
        data["data"] = _trimmed(data["data"], field)
    return data
