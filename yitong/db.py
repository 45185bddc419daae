"""Database engine and schema migrations (Alembic, one environment over every room's tables)."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, exc, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

import migrations


class DatabaseError(Exception):
    """The database is unreachable or its schema is not what this version expects."""


def make_engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        if url.database:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=15000")
            cursor.close()

        return engine
    engine = create_engine(url, pool_size=5, max_overflow=10)
    _ping_after_idle(engine)
    return engine


IDLE_PING_SECONDS = 1.0


def _ping_after_idle(engine: Engine) -> None:
    """SQLAlchemy's pool_pre_ping, but only for a connection that sat in the pool for more than
    IDLE_PING_SECONDS: a server restart or an idle timeout is found before use, while a busy
    service does not pay a round trip per checkout (a token grant checks one out once or more).
    A failed ping raises DisconnectionError, on which the pool drops the connection and opens
    another (SQLAlchemy, "Disconnect Handling - Pessimistic", custom variant)."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection, record):
        record.info["yitong_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, _proxy):
        since = record.info.get("yitong_idle_since")
        if since is not None and time.monotonic() - since <= IDLE_PING_SECONDS:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception:
            alive = False
        if not alive:
            raise exc.DisconnectionError("the pooled connection did not answer a ping")


def _alembic_config(url: URL):
    # Alembic is imported here, not at module level: it costs ~0.3 s (Mako, Pygments) that
    # every other CLI command would pay.
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.attributes["url"] = url
    return config


def ping(engine: Engine) -> None:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise DatabaseError(f"database {engine.url.render_as_string(hide_password=True)} is unreachable: "
                            f"{_first_line(exc)}") from None


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent)."""
    from alembic import command

    ping(engine)
    config = _alembic_config(engine.url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def check_at_head(engine: Engine) -> None:
    """Refuse to serve a database whose schema is older (or newer) than this code."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    ping(engine)
    script = ScriptDirectory.from_config(_alembic_config(engine.url))
    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    if current != set(script.get_heads()):
        raise DatabaseError(
            f"the database schema is at {', '.join(sorted(current)) or 'nothing'} but this version needs "
            f"{', '.join(script.get_heads())}: run `yitong db upgrade`"
        )


def _first_line(exc: Exception) -> str:
    message = str(getattr(exc, "orig", None) or exc).strip()
    return message.splitlines()[0] if message else type(exc).__name__
