"""Store: the classroom database behind one async API; SQLite (WAL) by default, PostgreSQL by URL.

Every write commits before it returns, so a finished turn survives the server being killed. SQLite takes one
writer at a time, so this server's writes to it queue here, in order, rather than race for its lock and be refused
as "database is locked" when a burst (a login flood's audit rows) outlasts its busy timeout.
"""

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Iterable
from contextlib import aclosing, asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Text, cast, delete, event, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from hootkit.store.low_priority import LowPriority
from hootkit.store.migrate import upgrade
from hootkit.store.tables import (
    Account, Assignment, AuditEvent, ClassRoom, Device, DeviceSessionRow, Hold, Login, PairingCode, Setting, TurnRow,
    now,
)


log = logging.getLogger(__name__)
MIGRATION_LOCK = 0x486F6F746B6974  # "Hootkit": the PostgreSQL advisory lock held while a server migrates
MIGRATION_WAIT_S = 300  # a server waiting this long for another's migration stops with an error


async def _wait_to_migrate(connection) -> None:
    """Hold the migration lock for this transaction; a server that finds another migrating says so and waits (at
    most MIGRATION_WAIT_S: a server whose host vanished mid-migration holds it until PostgreSQL notices)."""
    if (await connection.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})).scalar():
        return
    log.info("store: another Hootkit server is migrating the database; waiting for it (at most %d s)", MIGRATION_WAIT_S)
    await connection.execute(text(f"SET LOCAL lock_timeout = '{MIGRATION_WAIT_S}s'"))
    await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})


class Conflict(ValueError):
    """The name (or the device id) is taken."""


class StoreBusy(TimeoutError):
    """A write waited longer than WRITE_WAIT_S behind this server's earlier SQLite writes (a very slow disk, or a
    flood): it was not made. Worth asking again later; the API answers 503."""


MAX_AUDIT_DETAIL = 2000  # characters of an audit row's detail that are kept
BUSY_TIMEOUT_MS = 5000  # how long one SQLite connection waits for another's write
WRITE_WAIT_S = 30.0  # how long a write waits for this server's earlier SQLite writes before it gives up


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.close()


class Store:
    """Open with `await Store.open(url)`, close with `await store.close()`."""

    def __init__(self, engine: AsyncEngine):
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._one_writer = asyncio.Lock() if engine.dialect.name == "sqlite" else None  # PostgreSQL locks rows itself

    @staticmethod
    def url_for(data_dir: Path) -> str:
        return f"sqlite+aiosqlite:///{Path(data_dir).resolve() / 'hootkit.db'}"

    @classmethod
    async def from_settings(cls, settings) -> "Store":
        """The store the settings name: `store_url`, else SQLite in `data_dir`."""
        return await cls.open(settings.store_url or cls.url_for(settings.data_dir))

    @classmethod
    async def open(cls, url: str) -> "Store":
        """Connect and bring the schema up to date (alembic `upgrade head`)."""
        engine = create_async_engine(url)
        if engine.dialect.name == "sqlite":
            if engine.url.database not in (None, "", ":memory:"):
                Path(engine.url.database).parent.mkdir(parents=True, exist_ok=True)
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        try:
            async with engine.begin() as connection:
                if engine.dialect.name == "postgresql":  # servers starting together migrate one after another
                    await _wait_to_migrate(connection)
                await connection.run_sync(upgrade)
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine)

    async def close(self) -> None:
        await self.engine.dispose()

    @asynccontextmanager
    async def _writing(self):
        """A transaction that writes: committed at the end, after this server's earlier SQLite writes (raises
        StoreBusy when those take longer than WRITE_WAIT_S)."""
        async with self._turn_to_write(), self.sessions.begin() as session:
            yield session

    @asynccontextmanager
    async def _turn_to_write(self):
        if self._one_writer is None:
            yield
            return
        try:
            async with asyncio.timeout(WRITE_WAIT_S):
                await self._one_writer.acquire()
        except TimeoutError:
            raise StoreBusy(f"the database is busy: a write waited {WRITE_WAIT_S:g} s for earlier ones") from None
        try:
            yield
        finally:
            self._one_writer.release()

    async def _add(self, row):
        async with self._writing() as session:
            session.add(row)
        return row

    async def _all(self, query) -> list:
        async with self.sessions() as session:
            return list((await session.scalars(query)).all())

    async def _all_rows(self, query) -> list:
        async with self.sessions() as session:
            return list((await session.execute(query)).all())

    async def _one(self, query):
        async with self.sessions() as session:
            return (await session.scalars(query)).first()

    async def _run(self, *statements) -> list[int]:
        async with self._writing() as session:
            return [(await session.execute(statement)).rowcount for statement in statements]

    # -- accounts and logins -------------------------------------------------------------------

    async def add_account(self, username: str, password_hash: str, role: str) -> Account:
        try:
            return await self._add(Account(username=username, password_hash=password_hash, role=role))
        except IntegrityError:
            raise Conflict(f"the user name {username!r} is taken") from None

    async def account(self, account_id: int) -> Account | None:
        return await self._one(select(Account).where(Account.id == account_id))

    async def account_named(self, username: str) -> Account | None:
        return await self._one(select(Account).where(Account.username == username))

    async def accounts(self) -> list[Account]:
        return await self._all(select(Account).order_by(Account.username))

    async def count_accounts(self) -> int:
        async with self.sessions() as session:
            return await session.scalar(select(func.count()).select_from(Account))

    async def set_password(self, account_id: int, password_hash: str) -> None:
        await self._run(update(Account).where(Account.id == account_id).values(password_hash=password_hash),
                        delete(Login).where(Login.account_id == account_id))

    async def add_login(self, token_hash: str, account_id: int, csrf: str, expires_at: datetime) -> None:
        await self._add(Login(token_hash=token_hash, account_id=account_id, csrf=csrf, expires_at=expires_at))

    async def login(self, token_hash: str) -> tuple[Account, Login] | None:
        async with self.sessions() as session:
            row = (await session.execute(select(Account, Login).join(Login, Login.account_id == Account.id)
                                         .where(Login.token_hash == token_hash))).first()
        if row is None:
            return None
        if row.Login.expires_at <= now():
            await self.drop_login(token_hash)
            return None
        return row.Account, row.Login

    async def drop_login(self, token_hash: str) -> None:
        await self._run(delete(Login).where(Login.token_hash == token_hash))

    # -- classes and devices -------------------------------------------------------------------

    async def add_class(self, name: str, teacher_id: int | None) -> ClassRoom:
        return await self._add(ClassRoom(name=name, teacher_id=teacher_id))

    async def class_(self, class_id: int) -> ClassRoom | None:
        return await self._one(select(ClassRoom).where(ClassRoom.id == class_id))

    async def classes(self, teacher_id: int | None = None) -> list[ClassRoom]:
        query = select(ClassRoom).order_by(ClassRoom.name, ClassRoom.id)
        if teacher_id is not None:
            query = query.where(ClassRoom.teacher_id == teacher_id)
        return await self._all(query)

    async def pair_device(self, device_id: str, name: str, class_id: int | None, token_hash: str,
                          audit: dict | None = None) -> Device:
        """A newly paired device, and its `audit` row (`audit_event`'s fields) in the same transaction. An id
        already paired is a Conflict: a teacher forgets it first (`forget_device`)."""
        device = Device(id=device_id, name=name, class_id=class_id, token_hash=token_hash, paired_at=now())
        try:
            async with self._writing() as session:
                session.add(device)
                if audit is not None:
                    session.add(audit_event(**audit))
        except IntegrityError:
            raise Conflict(f"device {device_id} is already paired: forget it first to pair it again") from None
        return device

    async def device(self, device_id: str) -> Device | None:
        return await self._one(select(Device).where(Device.id == device_id))

    async def device_by_token(self, token_hash: str) -> Device | None:
        return await self._one(select(Device).where(Device.token_hash == token_hash))

    async def devices(self, class_ids: list[int] | None = None, parent_id: int | None = None) -> list[Device]:
        query = select(Device).order_by(Device.name, Device.id)
        if class_ids is not None:
            query = query.where(Device.class_id.in_(class_ids))
        if parent_id is not None:
            query = query.where(Device.parent_id == parent_id)
        return await self._all(query)

    async def update_device(self, device_id: str, **fields) -> None:
        if fields:
            await self._run(update(Device).where(Device.id == device_id).values(**fields))

    async def seen(self, device_id: str) -> None:
        await self._run(update(Device).where(Device.id == device_id).values(last_seen=now()))

    async def forget_device(self, device_id: str) -> bool:
        """Unpair: the token stops working and the id may be paired again, with no teacher's hold left on it; its
        turns and sessions stay. False if it was not paired."""
        forgotten, _holds = await self._run(delete(Device).where(Device.id == device_id),
                                            delete(Hold).where(Hold.device_id == device_id))
        return forgotten > 0

    # -- lesson assignments ----------------------------------------------------------------------

    async def add_assignment(self, device_id: str, lesson_id: str, title: str, steps: int, assigned_by: str) -> Assignment:
        await self.end_assignment(device_id)
        return await self._add(Assignment(device_id=device_id, lesson_id=lesson_id, title=title, steps=steps,
                                          assigned_by=assigned_by, quiz=[]))

    async def update_assignment(self, assignment_id: int, step: int, finished: bool, quiz: list) -> None:
        values = {"step": step, "finished": finished, "quiz": quiz}
        if finished:
            values["ended_at"] = now()
        await self._run(update(Assignment).where(Assignment.id == assignment_id).values(**values))

    async def end_assignment(self, device_id: str) -> None:
        await self._run(update(Assignment).where(Assignment.device_id == device_id, Assignment.ended_at.is_(None))
                        .values(ended_at=now()))

    async def open_assignment(self, device_id: str) -> Assignment | None:
        return await self._one(select(Assignment).where(Assignment.device_id == device_id, Assignment.ended_at.is_(None))
                               .order_by(Assignment.id.desc()))

    async def open_assignments(self) -> list[Assignment]:
        """Every lesson still under way, oldest first (what a restarted server picks up again)."""
        return await self._all(select(Assignment).where(Assignment.ended_at.is_(None)).order_by(Assignment.id))

    async def assignments(self, device_ids: Iterable[str]) -> list[Assignment]:
        return await self._all(select(Assignment).where(Assignment.device_id.in_(list(device_ids)))
                               .order_by(Assignment.id.desc()))

    # -- sessions and turns ----------------------------------------------------------------------

    def _insert(self, table):
        """An INSERT that can skip a row already there (ON CONFLICT), in this database's dialect."""
        return (postgresql_insert if self.engine.dialect.name == "postgresql" else sqlite_insert)(table)

    async def _insert_once(self, table, values: dict, keys: list[str]) -> int:
        """Insert a row unless one with the same `keys` is there; the row's id either way. A write the recorder
        tries again because its commit's acknowledgement was lost (a dropped PostgreSQL connection) finds its row."""
        statement = self._insert(table).values(**values).on_conflict_do_nothing(index_elements=keys).returning(table.id)
        async with self._writing() as session:
            row_id = (await session.execute(statement)).scalar()
            if row_id is None:
                row_id = (await session.execute(select(table.id).where(
                    *(getattr(table, key) == values[key] for key in keys)))).scalar_one()
        return row_id

    async def hold(self, device_ids: list[str], command: str, by: str) -> None:
        """Keep a teacher's "pause" or "stop" on these devices, replacing any earlier one; "resume" lets them go."""
        async with self._writing() as session:
            if command == "resume":
                await session.execute(delete(Hold).where(Hold.device_id.in_(device_ids)))
            elif device_ids:
                held = self._insert(Hold).values([{"device_id": device_id, "command": command, "held_by": by[:100],
                                                   "held_at": now()} for device_id in device_ids])
                await session.execute(held.on_conflict_do_update(index_elements=["device_id"], set_={
                    "command": held.excluded.command, "held_by": held.excluded.held_by, "held_at": held.excluded.held_at}))

    async def holds(self) -> dict[str, str]:
        """Every device held now: its id and the command that holds it."""
        return {hold.device_id: hold.command for hold in await self._all(select(Hold))}

    async def reserve_code(self, code: str, server_id: str, stale_after_s: float) -> bool:
        """Take a pairing code for `server_id`, unless another server shows it; a code its server has not renewed
        for `stale_after_s` is free again."""
        async with self._writing() as session:
            await session.execute(delete(PairingCode).where(PairingCode.seen_at < now() - timedelta(seconds=stale_after_s)))
            taken = await session.execute(self._insert(PairingCode).values(code=code, server_id=server_id, seen_at=now())
                                          .on_conflict_do_nothing(index_elements=["code"]).returning(PairingCode.code))
            return taken.scalar() is not None

    async def keep_codes(self, server_id: str, codes: list[str]) -> None:
        """`server_id` shows exactly these codes now: they are renewed (and taken again if their row went), the
        others it had before this call are let go."""
        started = now()
        async with self._writing() as session:
            await session.execute(delete(PairingCode).where(
                PairingCode.server_id == server_id, PairingCode.code.not_in(codes), PairingCode.seen_at < started))
            if codes:
                kept = self._insert(PairingCode).values([{"code": code, "server_id": server_id, "seen_at": started}
                                                        for code in codes])
                await session.execute(kept.on_conflict_do_update(
                    index_elements=["code"], set_={"seen_at": kept.excluded.seen_at},
                    where=PairingCode.server_id == server_id))

    async def start_session(self, session_id: str, device_id: str) -> None:
        await self._insert_once(DeviceSessionRow, {"id": session_id, "device_id": device_id}, ["id"])

    async def end_session(self, session_id: str) -> None:
        await self._run(update(DeviceSessionRow).where(DeviceSessionRow.id == session_id).values(ended_at=now()))

    async def add_turn(self, **fields) -> int:
        """Keep a finished turn, once: the same session's turn number again is the same turn."""
        return await self._insert_once(TurnRow, fields, ["session_id", "number"])

    async def turns(self, device_ids: Iterable[str], limit: int = 200) -> list[TurnRow]:
        newest = await self._all(select(TurnRow).where(TurnRow.device_id.in_(list(device_ids)))
                                 .order_by(TurnRow.ended_at.desc(), TurnRow.id.desc()).limit(limit))
        return newest[::-1]

    # -- reports, export, deletion -----------------------------------------------------------------

    async def report(self, device_ids: Iterable[str]) -> list[dict]:
        """Per device: sessions, time talked (heard + spoken), turns, flagged turns, lessons with quiz results.

        The database counts and sums (GROUP BY); only flagged turns and lessons come back as rows, so a report
        over a whole school costs the event loop a few thousand rows, a page at a time, not devices x turns of
        Python filtering in one step.
        """
        device_ids = list(device_ids)
        async with self.sessions() as session:
            sessions = dict((await session.execute(
                select(DeviceSessionRow.device_id, func.count()).where(DeviceSessionRow.device_id.in_(device_ids))
                .group_by(DeviceSessionRow.device_id))).all())
            totals = {row.device_id: row for row in (await session.execute(
                select(TurnRow.device_id, func.count().label("turns"),
                       func.sum(TurnRow.heard_s + TurnRow.reply_s).label("time_s"))
                .where(TurnRow.device_id.in_(device_ids)).group_by(TurnRow.device_id))).all()}
        flagged: dict[str, list[dict]] = {}
        async with aclosing(self._turn_pages(TurnRow.device_id.in_(device_ids), _has_flags())) as pages:
            async for page in pages:
                for turn in page:
                    if turn["flags"]:  # the SQL filter only drops turns whose flags are certainly empty
                        flagged.setdefault(turn["device_id"], []).append(turn)
        lessons: dict[str, list[dict]] = {}
        for assignment in await self.assignments(device_ids):
            lessons.setdefault(assignment.device_id, []).append(assignment_dict(assignment))
        reports = []
        for device_id in device_ids:
            total = totals.get(device_id)
            reports.append({
                "device_id": device_id, "sessions": sessions.get(device_id, 0),
                "time_s": round(total.time_s or 0, 1) if total else 0, "turns": total.turns if total else 0,
                "flagged": flagged.get(device_id, []), "lessons": lessons.get(device_id, []),
            })
        return reports

    async def export_rows(self, device_ids: Iterable[str]) -> list[dict]:
        """Every turn of the devices, by device then time, read a page at a time (other tasks run in between)."""
        async with aclosing(self._turn_pages(TurnRow.device_id.in_(list(device_ids)))) as pages:
            return [row async for page in pages for row in page]

    async def _turn_pages(self, *where, page_size: int = 200) -> AsyncIterator[list[dict]]:
        """The turns `where` says as `turn_dict`s, by device then id: one query, streamed, `page_size` rows a step.

        Rows are made a page at a time on the event loop and the next page is fetched off it, so tens of
        thousands of turns never hold the loop (and the devices' audio pacing) for more than a page's worth; and
        the pages come at low priority (LowPriority), so many reports at once slow each other, not the devices.
        """
        query = select(*_TURN_COLUMNS).where(*where).order_by(TurnRow.device_id, TurnRow.id)
        pace = LowPriority()
        async with self.sessions() as session:
            result = await session.stream(query.execution_options(yield_per=page_size))
            async for rows in result.partitions(page_size):
                yield [turn_dict(row) for row in rows]
                await pace.step()

    async def delete_data(self, device_ids: Iterable[str]) -> dict:
        """Delete the devices' turns (and kept audio), sessions and assignments; the devices stay paired."""
        device_ids = list(device_ids)
        audio = await self._all(select(TurnRow.audio_path).where(TurnRow.device_id.in_(device_ids),
                                                                  TurnRow.audio_path.is_not(None)))
        counts = await self._run(delete(TurnRow).where(TurnRow.device_id.in_(device_ids)),
                                 delete(DeviceSessionRow).where(DeviceSessionRow.device_id.in_(device_ids)),
                                 delete(Assignment).where(Assignment.device_id.in_(device_ids)))
        _remove_files(audio)
        return dict(zip(("turns", "sessions", "assignments"), counts))

    async def purge(self, older_than_days: float) -> dict:
        """Retention: delete turns, ended sessions and assignments, and audit entries older than that."""
        cutoff = now() - timedelta(days=older_than_days)
        audio = await self._all(select(TurnRow.audio_path).where(TurnRow.ended_at < cutoff, TurnRow.audio_path.is_not(None)))
        counts = await self._run(
            delete(TurnRow).where(TurnRow.ended_at < cutoff),
            delete(DeviceSessionRow).where(DeviceSessionRow.ended_at < cutoff,
                                           ~DeviceSessionRow.id.in_(select(TurnRow.session_id))),
            delete(Assignment).where(Assignment.ended_at < cutoff),
            delete(AuditEvent).where(AuditEvent.at < cutoff),
        )
        _remove_files(audio)
        return dict(zip(("turns", "sessions", "assignments", "audit"), counts))

    # -- audit log and settings ------------------------------------------------------------------

    async def audit(self, actor: str, action: str, target: str = "", ok: bool = True, detail: str = "", ip: str = "") -> None:
        await self._add(audit_event(actor, action, target, ok, detail, ip))

    async def login_addresses(self, since: datetime, limit: int = 10_000) -> list[tuple[str, datetime]]:
        """The addresses right passwords came from since `since`, each with its latest, latest first."""
        latest = func.max(AuditEvent.at)
        rows = await self._all_rows(select(AuditEvent.ip, latest).where(
            AuditEvent.action == "login", AuditEvent.ok.is_(True), AuditEvent.at >= since, AuditEvent.ip != "")
            .group_by(AuditEvent.ip).order_by(latest.desc()).limit(limit))
        return [(ip, at) for ip, at in rows]

    async def audit_log(self, limit: int = 200) -> list[AuditEvent]:
        return await self._all(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit))

    async def get_setting(self, key: str, default=None):
        row = await self._one(select(Setting).where(Setting.key == key))
        return row.value if row is not None else default

    async def set_setting(self, key: str, value) -> None:
        async with self._writing() as session:
            await session.merge(Setting(key=key, value=value))

    async def shared_key(self, name: str) -> bytes:
        """A random 32-byte key kept in the store under `name`: made by the first server that asks, the same for
        every server after it (and after restarts)."""
        made = {"hex": secrets.token_hex(32)}
        async with self._writing() as session:
            await session.execute(self._insert(Setting).values(key=name, value=made).on_conflict_do_nothing(index_elements=["key"]))
        return bytes.fromhex((await self.get_setting(name))["hex"])


def audit_event(actor: str, action: str, target: str = "", ok: bool = True, detail: str = "", ip: str = "") -> AuditEvent:
    """One audit row, its fields cut to what the table keeps."""
    return AuditEvent(actor=actor[:100], action=action[:40], target=target[:200], ok=ok,
                      detail=detail[:MAX_AUDIT_DETAIL], ip=ip[:60])


def transcript_entry(turn: TurnRow) -> dict:
    """One turn as a dashboard's transcript shows it (the transcript API and the live news alike)."""
    return {"number": turn.number, "at": turn.ended_at.isoformat(), "asked": turn.heard_s > 0,
            "transcript": turn.transcript, "reply": turn.reply, "outcome": turn.outcome, "error": turn.error,
            "flags": turn.flags, "lesson_id": turn.lesson_id, "step_id": turn.step_id}


def turn_dict(turn: TurnRow) -> dict:
    return {"device_id": turn.device_id, "session_id": turn.session_id, "number": turn.number,
            "started_at": turn.started_at.isoformat(), "ended_at": turn.ended_at.isoformat(), "outcome": turn.outcome,
            "error": turn.error,
            "transcript": turn.transcript, "reply": turn.reply, "flags": turn.flags, "lesson_id": turn.lesson_id,
            "step_id": turn.step_id, "heard_s": turn.heard_s, "reply_s": turn.reply_s, "latency": turn.latency}


def assignment_dict(assignment: Assignment) -> dict:
    return {"lesson_id": assignment.lesson_id, "title": assignment.title, "step": assignment.step,
            "steps": assignment.steps, "finished": assignment.finished, "quiz": assignment.quiz,
            "assigned_by": assignment.assigned_by, "assigned_at": assignment.assigned_at.isoformat(),
            "ended_at": assignment.ended_at.isoformat() if assignment.ended_at else None}


_TURN_COLUMNS = (TurnRow.device_id, TurnRow.session_id, TurnRow.number, TurnRow.started_at, TurnRow.ended_at,
                 TurnRow.outcome, TurnRow.error, TurnRow.transcript, TurnRow.reply, TurnRow.flags, TurnRow.lesson_id, TurnRow.step_id,
                 TurnRow.heard_s, TurnRow.reply_s, TurnRow.latency)  # what `turn_dict` reads: plain rows, no ORM objects


def _has_flags():
    """SQL: the turn's flags are not an empty list (JSON text on SQLite; PostgreSQL's json keeps the text it got)."""
    return cast(TurnRow.flags, Text).not_in(("[]", "null"))


def _remove_files(paths: list[str]) -> None:
    for path in paths:
        Path(path).unlink(missing_ok=True)
