"""Test helpers: sessions with turns written with every field a test does not care about filled in; many of them
at once; schema checks."""

from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import insert

from hootkit.store.migrate import alembic_config
from hootkit.store.tables import Base, DeviceSessionRow, TurnRow

FLAG = {"stage": "input", "verdict": "redirect", "category": "personal", "text": "my address is ..."}


def turn_fields(session_id: str, device_id: str, number: int, at: datetime | None = None, **overrides) -> dict:
    at = at or datetime.now(UTC)
    fields = {
        "session_id": session_id, "device_id": device_id, "number": number, "started_at": at, "ended_at": at,
        "outcome": "answered", "transcript": f"question {number}", "reply": f"answer {number}", "flags": [],
        "latency": {"stt": 300, "llm": 50}, "lesson_id": None, "step_id": None, "heard_s": 1.5, "reply_s": 2.0,
        "audio_path": None,
    }
    fields.update(overrides)
    return fields


async def talk(store, device_id: str, session_id: str, turns: int, **overrides) -> list[int]:
    """A session of `turns` turns for `device_id`; the turn ids."""
    await store.start_session(session_id, device_id)
    return [await store.add_turn(**turn_fields(session_id, device_id, number, **overrides))
            for number in range(1, turns + 1)]


async def crowd(store, devices: int, turns_each: int, flag_every: int = 0) -> list[str]:
    """`devices` devices with one session of `turns_each` turns each (every `flag_every`-th turn flagged), written
    in one transaction: thousands of turns in a second, where `talk` commits each one. The device ids, in order."""
    ids = [f"desk-{n:05d}" for n in range(devices)]
    turns = [turn_fields(f"s-{device_id}", device_id, number,
                         flags=[FLAG] if flag_every and number % flag_every == 0 else [])
             for device_id in ids for number in range(1, turns_each + 1)]
    async with store.sessions.begin() as session:
        await session.execute(insert(DeviceSessionRow), [{"id": f"s-{device_id}", "device_id": device_id} for device_id in ids])
        await session.execute(insert(TurnRow), turns)
    return ids


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def schema_state(store) -> tuple[str | None, list]:
    """(the database's alembic revision, its differences from the ORM metadata)."""

    def inspect(connection):
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return context.get_current_revision(), compare_metadata(context, Base.metadata)

    async with store.engine.connect() as connection:
        return await connection.run_sync(inspect)
