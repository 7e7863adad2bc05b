"""Apply Alembic migrations programmatically (at start and from ``dropbell db upgrade``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from storage.engine import Database

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations found"
    return head


# Any fixed 64-bit number, the same in every process ("dropmigr" in ASCII).
MIGRATION_LOCK_KEY = 0x64726F706D696772


async def upgrade(database: Database, revision: str = "head") -> str:
    """Bring the schema to ``revision``; returns the revision the database is at afterwards."""

    def _run(connection: Connection) -> str | None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        return MigrationContext.configure(connection).get_current_revision()

    async with database.write() as connection:
        if database.shared:
            # Bot processes (shards) started together would each create the same tables; one
            # migrates while the others wait here, then find the schema already at head.
            await connection.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)))
        current = await connection.run_sync(_run)
    return current or ""


async def current_revision(database: Database) -> str | None:
    async with database.read() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )
