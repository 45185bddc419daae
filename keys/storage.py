"""SQLAlchemy helpers shared by every room's tables (keys_, idp_, seal_, baselib_).

Lives in keys/ because it is the bottom layer every room may import; it knows nothing of
any room's tables.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, Engine, MetaData
from sqlalchemy.types import TypeDecorator

from keys.clock import utcnow  # noqa: F401  (re-exported: tables and their users import it from here)

# Deterministic constraint names, so that Alembic migrations read the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def single_reads(engine: Engine) -> Engine:
    """``engine`` (the same pool) for reads of one statement each, on the hot paths (a sign-in reads
    the account, the code, the consent, ...): in autocommit the statement goes alone, without a
    BEGIN before it and a ROLLBACK when the connection returns to the pool: on PostgreSQL two round
    trips fewer and about half the client's CPU per read. Never for writes, nor for several reads
    that must see one snapshot."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite (no time zones) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
