"""Alembic environment: runs on the connection the store hands over (no alembic.ini needed)."""

from alembic import context
from sqlmodel import SQLModel

from monitor.store import tables  # noqa: F401  (registers the tables on the metadata)

target_metadata = SQLModel.metadata
connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through monitor.store.db.migrate()")
context.configure(
    connection=connection,
    target_metadata=target_metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
