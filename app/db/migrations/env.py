"""Alembic environment: runs on the connection handed over by ``app.db.engine.migrate``."""

from alembic import context

from app.db.schema import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only via app.db.engine.migrate
    raise RuntimeError("run migrations through app.db.engine.migrate(engine)")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
