"""yitong/db.py pings a pooled PostgreSQL connection before use only after it sat idle: a connection
the server dropped meanwhile (a restart, an idle timeout) is replaced without the caller noticing."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import PG_URL
from yitong import db


@pytest.mark.parametrize("storage", ["postgres"], indirect=True)  # SQLite has no server to drop it
def test_a_connection_the_server_dropped_while_idle_is_replaced_before_use(storage, monkeypatch):
    engine = db.make_engine(storage.url)
    try:
        with engine.connect() as conn:
            dropped = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:  # only the connection this test opened, in its own database
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": dropped}).scalar()
        admin.dispose()
        monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.0)  # "idle long enough", without waiting a second
        with engine.connect() as conn:
            replaced = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        assert replaced != dropped
    finally:
        engine.dispose()


@pytest.mark.parametrize("storage", ["postgres"], indirect=True)
def test_a_busy_pool_does_not_ping_at_every_checkout(storage):
    engine = db.make_engine(storage.url)
    pings = []
    original = engine.dialect.do_ping
    engine.dialect.do_ping = lambda connection: pings.append(1) or original(connection)
    try:
        for _ in range(5):
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        assert len(pings) == 1  # the first checkout (a new connection has no idle time); none after
    finally:
        engine.dispose()
