"""Alembic environment: migrations run on the connection the Store hands over."""

from alembic import context

from hootkit.store.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through hootkit.store.migrate.upgrade (Store.open does)")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
