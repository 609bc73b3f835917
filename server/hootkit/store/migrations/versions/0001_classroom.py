"""The classroom store: accounts, logins, classes, devices, assignments, sessions, turns, audit, settings.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _time(name: str, nullable: bool = False, index: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, index=index)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(100), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        _time("created_at"),
    )
    op.create_table(
        "logins",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("csrf", sa.String(100), nullable=False),
        _time("created_at"),
        _time("expires_at"),
    )
    op.create_table(
        "classes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("teacher_id", sa.Integer(), sa.ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True, index=True),
        _time("created_at"),
    )
    op.create_table(
        "devices",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("class_id", sa.Integer(), sa.ForeignKey("classes.id", ondelete="SET NULL"), nullable=True, index=True),
        sa.Column("parent_id", sa.Integer(), sa.ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True, index=True),
        sa.Column("token_hash", sa.String(64), nullable=True, unique=True),
        _time("paired_at", nullable=True),
        _time("last_seen", nullable=True),
    )
    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("device_id", sa.String(100), nullable=False, index=True),
        sa.Column("lesson_id", sa.String(100), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("assigned_by", sa.String(100), nullable=False),
        _time("assigned_at"),
        _time("ended_at", nullable=True),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("steps", sa.Integer(), nullable=False),
        sa.Column("finished", sa.Boolean(), nullable=False),
        sa.Column("quiz", sa.JSON(), nullable=False),
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("device_id", sa.String(100), nullable=False, index=True),
        _time("started_at"),
        _time("ended_at", nullable=True),
    )
    op.create_table(
        "turns",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("session_id", sa.String(40), sa.ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("device_id", sa.String(100), nullable=False, index=True),
        sa.Column("number", sa.Integer(), nullable=False),
        _time("started_at"),
        _time("ended_at", index=True),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("transcript", sa.Text(), nullable=False),
        sa.Column("reply", sa.Text(), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("latency", sa.JSON(), nullable=False),
        sa.Column("lesson_id", sa.String(100), nullable=True),
        sa.Column("step_id", sa.String(100), nullable=True),
        sa.Column("heard_s", sa.Float(), nullable=False),
        sa.Column("reply_s", sa.Float(), nullable=False),
        sa.Column("audio_path", sa.String(300), nullable=True),
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer(), primary_key=True),
        _time("at", index=True),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("ip", sa.String(60), nullable=False),
    )
    op.create_table(
        "settings",
        sa.Column("key", sa.String(60), primary_key=True),
        sa.Column("value", sa.JSON(), nullable=False),
    )


def downgrade() -> None:
    for table in ("settings", "audit", "turns", "sessions", "assignments", "devices", "classes", "logins", "accounts"):
        op.drop_table(table)
