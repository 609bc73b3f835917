"""Turns keep why they failed (which engine, and its answer), for the teacher.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("turns") as table:
        table.add_column(sa.Column("error", sa.String(300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("turns") as table:
        table.drop_column("error")
