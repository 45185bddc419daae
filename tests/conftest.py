"""Shared fixtures. Storage tests run on SQLite and, when reachable (always under CI=true),
on PostgreSQL + Redis: use the ``storage`` fixture and they are parametrised over both."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url

from keys.runtime import Runtime, open_runtime
from tests.helpers import CI, PrivateRedis
from yitong import db

PG_URL = os.environ.get("YITONG_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("YITONG_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REPO = Path(__file__).resolve().parent.parent


def _reachable(kind: str) -> str | None:
    """None when the server answers, else why not."""
    try:
        if kind == "postgres":
            engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            engine.dispose()
        else:
            import redis

            redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except Exception as exc:
        return f"{kind} at {PG_URL if kind == 'postgres' else REDIS_URL} is unreachable: {exc}"
    return None


@dataclass
class Storage:
    """One storage configuration for a test: a fresh database and a fresh Redis namespace."""

    kind: str  # "sqlite" or "postgres"
    url: URL
    engine: Engine
    runtime: Runtime
    redis_url: str | None

    def env(self) -> dict[str, str]:
        """Environment variables that point the CLI and the app at this storage."""
        env = {"YITONG_DATABASE_URL": self.url.render_as_string(hide_password=False)}
        if self.redis_url:
            env["YITONG_REDIS_URL"] = self.redis_url
        return env


@pytest.fixture(scope="session")
def _pg_template(tmp_path_factory) -> Iterator[str | None]:
    """A migrated template database; each test gets a copy (CREATE DATABASE ... TEMPLATE)."""
    problem = _reachable("postgres")
    if problem:
        yield None
        return
    name = f"yitong_tpl_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = db.make_engine(make_url(PG_URL).set(database=name))
    db.upgrade(engine)
    engine.dispose()
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    engine = db.make_engine(make_url(f"sqlite:///{path}"))
    db.upgrade(engine)
    engine.dispose()
    return path


class _Dropper:
    """Drops the tests' databases in the background. PostgreSQL checkpoints on every DROP DATABASE, which
    takes seconds on a busy machine; the next test need not wait for it, and drops that overlap share
    a checkpoint. The session waits for every drop before it ends."""

    def __init__(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT", pool_size=4, max_overflow=0)
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="drop-test-database")
        self._pending = []

    def drop(self, name: str) -> None:
        self._pending.append(self._pool.submit(self._drop, name))

    def _drop(self, name: str) -> None:
        with self._admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._admin.dispose()
        for future in self._pending:
            future.result()  # a drop that failed fails the session's last test instead of passing unseen


@pytest.fixture(scope="session")
def _pg_dropper() -> Iterator[_Dropper]:
    dropper = _Dropper()
    yield dropper
    dropper.close()


@pytest.fixture(params=["sqlite", "postgres"])
def storage(request, tmp_path, _sqlite_template, _pg_template, _pg_dropper) -> Iterator[Storage]:
    if request.param == "sqlite":
        path = tmp_path / "yitong.db"
        shutil.copyfile(_sqlite_template, path)
        url = make_url(f"sqlite:///{path}")
        engine = db.make_engine(url)
        yield Storage("sqlite", url, engine, open_runtime(None), None)
        engine.dispose()
        return
    problem = _reachable("postgres") or _reachable("redis")
    if problem:
        if CI:
            pytest.fail(f"CI=true requires PostgreSQL and Redis: {problem}")
        pytest.skip(problem)
    name = f"yitong_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{_pg_template}"'))
    url = make_url(PG_URL).set(database=name)
    engine = db.make_engine(url)
    prefix = f"yitong-test:{uuid.uuid4().hex[:12]}:"
    runtime = open_runtime(REDIS_URL, prefix=prefix)
    yield Storage("postgres", url, engine, runtime, REDIS_URL)
    engine.dispose()
    client = runtime.store.client
    for key in client.scan_iter(match=f"{prefix}*"):
        client.delete(key)
    admin.dispose()
    _pg_dropper.drop(name)


@pytest.fixture
def yitong_env(tmp_path) -> dict[str, str]:
    """A clean environment for running the `yitong` CLI against a fresh home under tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("YITONG_")}
    env["YITONG_HOME"] = str(tmp_path / "home")
    return env


@pytest.fixture
def private_redis(tmp_path) -> Iterator[PrivateRedis]:
    """A started redis-server of this test's own (see :class:`tests.helpers.PrivateRedis`)."""
    server = PrivateRedis(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items) -> None:
    """Under ``--dist loadgroup``, the tests that use a module-scoped fixture (a served home, a PKI, a
    browser) run on one worker, so the fixture is built once and not once per worker. Tests that name
    their own ``xdist_group`` keep it."""
    for item in items:
        if item.get_closest_marker("xdist_group") is not None:
            continue
        fixtures = getattr(item, "_fixtureinfo", None)
        if fixtures is None:
            continue
        if any(definitions[-1].scope == "module" for definitions in fixtures.name2fixturedefs.values()):
            item.add_marker(pytest.mark.xdist_group(f"module:{item.module.__name__}"))
