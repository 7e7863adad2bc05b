"""dropbell's tables (SQLAlchemy Core). The schema itself is created only by Alembic migrations.

Every row that belongs to a Discord server carries its ``guild_id``; Discord ids are 64-bit
snowflakes, hence BigInteger.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, MetaData, Table

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

guild_settings = Table(
    "guild_settings",
    metadata,
    Column("guild_id", BigInteger, primary_key=True, autoincrement=False),
    Column("announce_channel_id", BigInteger, nullable=True),
    Column("manager_role_id", BigInteger, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
