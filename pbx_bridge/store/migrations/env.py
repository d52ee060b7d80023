"""Alembic environment: run against the connection handed in by pbx_bridge.store.migrate."""

from alembic import context

from pbx_bridge.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
