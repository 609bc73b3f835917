"""A teacher's pause or stop is kept in the store: a server that starts later, or restarts, holds the device too.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "holds",
        sa.Column("device_id", sa.String(100), primary_key=True),
        sa.Column("command", sa.String(10), nullable=False),
        sa.Column("held_by", sa.String(100), nullable=False),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("holds")
