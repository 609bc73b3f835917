"""A turn is kept once: a commit retried after its acknowledgement was lost finds the turn already there.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    turns = sa.table("turns", sa.column("id", sa.Integer), sa.column("session_id", sa.String),
                     sa.column("number", sa.Integer))
    first = sa.select(sa.func.min(turns.c.id)).group_by(turns.c.session_id, turns.c.number).scalar_subquery()
    op.execute(turns.delete().where(turns.c.id.not_in(first)))  # copies the old retry bug stored twice
    op.create_index("uq_turns_session_number", "turns", ["session_id", "number"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_turns_session_number", table_name="turns")
