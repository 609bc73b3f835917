"""Test helpers: sessions with turns written with every field a test does not care about filled in; schema checks."""

from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from hootkit.store.migrate import alembic_config
from hootkit.store.tables import Base


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


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def schema_state(store) -> tuple[str | None, list]:
    """(the database's alembic revision, its differences from the ORM metadata)."""

    def inspect(connection):
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return context.get_current_revision(), compare_metadata(context, Base.metadata)

    async with store.engine.connect() as connection:
        return await connection.run_sync(inspect)
