"""Alembic environment: runs on the connection yitong.db hands it (or on a URL for the CLI)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from migrations.metadata import target_metadata


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        engine = create_engine(context.config.attributes["url"])
        with engine.begin() as connection:
            _run(connection)
        return
    _run(connection)


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run `yitong db upgrade`")
run_migrations_online()
