"""Alembic environment: always run with a connection handed in by storage.migrate."""

from alembic import context

import storage.collector_tables  # noqa: F401  (its tables join the metadata)
from storage.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("Run migrations through `dropbell db upgrade`, not the alembic CLI.")

context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things; batch mode rebuilds tables so one migration fits both.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
context.run_migrations()
