"""Shared fixtures. Storage tests run on SQLite and, when reachable (always under CI=true),
on PostgreSQL + Redis: use the ``storage`` fixture and they are parametrised over both."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url

from keys.runtime import Runtime, open_runtime
from tests.helpers import CI, TEST_PASSWORD_COST, PrivateRedis, clean_env, run_yitong
from yitong import db
from yitong.cli.serve import collect_garbage_less_often

# Before anything hashes a password (see tests/helpers.TEST_PASSWORD_COST); an explicit setting wins.
os.environ.setdefault("YITONG_PASSWORD_ARGON2", TEST_PASSWORD_COST)


def _share_url_builders() -> None:
    """One compiled URL builder per distinct rule in each test process, instead of one per app.

    Werkzeug 3 compiles two builder functions for every route (an AST, then ``compile()``); the suite
    makes some 2,000 apps of ~180 routes each in its worker processes, and a profile of the whole run put
    7 % of its CPU there. The builder is a pure function of what the key holds (the rule's trace, the
    defaults as their converters write them, whether unknown arguments are appended): it reads the rule
    itself only through the ``self`` it is bound to. A server a test starts compiles its routes as
    production does."""
    from werkzeug.routing.rules import Rule

    compile_builder = Rule._compile_builder
    made: dict[tuple, Callable] = {}

    def shared(self: Rule, append_unknown: bool = True) -> Callable:
        defaults = self.defaults or {}
        written = tuple(sorted((name, self._converters[name].to_url(value) if name in self._converters else repr(value))
                               for name, value in defaults.items()))
        key = (append_unknown, self.rule, tuple(self._trace), written)
        if key not in made:
            made[key] = compile_builder(self, append_unknown)
        return made[key]

    Rule._compile_builder = shared


_share_url_builders()

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


_NAMES = {"postgres": "PostgreSQL", "redis": "Redis"}


def require_services(*kinds: str) -> None:
    """Skip the test when a server is down, but FAIL it under CI=true (never a silent pass)."""
    problem = next((found for found in map(_reachable, kinds) if found), None)
    if problem:
        if CI:
            pytest.fail(f"CI=true requires {' and '.join(_NAMES[kind] for kind in kinds)}: {problem}")
        pytest.skip(problem)


class Storage:
    """One storage configuration for a test: a fresh database and a fresh Redis namespace.

    On PostgreSQL the database is created when the test first asks for ``url`` or ``engine``: a test that
    starts from a snapshot (:meth:`restore`) gets that copy as its only database."""

    def __init__(self, kind: str, runtime: Runtime, redis_url: str | None, *, url: URL | None = None,
                 create: Callable[[str | None], URL] | None = None, snapshots: Snapshots | None = None) -> None:
        self.kind = kind  # "sqlite" or "postgres"
        self.runtime, self.redis_url, self.snapshots = runtime, redis_url, snapshots
        self._url, self._create, self._engine = url, create, None
        self._used = False  # the test has seen the database (its URL or engine): restore() must not replace it

    @property
    def url(self) -> URL:
        self._used = True
        if self._url is None:
            self._url = self._create(None)
        return self._url

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = db.make_engine(self.url)
        return self._engine

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def env(self) -> dict[str, str]:
        """Environment variables that point the CLI and the app at this storage: on Redis, under the test's own
        prefix (YITONG_REDIS_PREFIX), so that what its servers count (sign-in throttles) never adds up with
        another test's or another run's, and the test's end removes it."""
        env = {"YITONG_DATABASE_URL": self.url.render_as_string(hide_password=False)}
        if self.redis_url:
            env["YITONG_REDIS_URL"] = self.redis_url
            env["YITONG_REDIS_PREFIX"] = self.runtime.store.prefix
        return env

    def restore(self, key: tuple, build: Callable[[Storage, Path], Any], tmp_path: Path) -> Any:
        """This test's database and files as ``build(storage, directory)`` left them: built once per session
        (per xdist worker) and storage kind under ``key``, then copied: the database file (SQLite) or
        ``CREATE DATABASE ... TEMPLATE`` (PostgreSQL), and ``directory``'s files into ``tmp_path``.

        For set-ups that cost seconds (a PKI, an initialised home) and that the test only builds on: each
        test still has a database and files of its own, so no test sees another's writes. ``build`` must
        keep its state in the database and ``directory`` (not in Redis); what it returns (a master key,
        say) is given to every test. Once the test has used the database (a second home on it, rows made
        first), ``build`` runs on it instead, as it did before snapshots: nothing the test made is lost."""
        assert self.snapshots is not None, "Storage.restore needs the storage fixture"
        if self._used:
            return build(self, tmp_path)
        database, files, built = self.snapshots.snapshot(self.kind, key, build)
        self.dispose()
        if self.kind == "sqlite":
            shutil.copyfile(database, self.url.database)
        else:
            self._url = self._create(database)
        shutil.copytree(files, tmp_path, symlinks=True, dirs_exist_ok=True)
        return built


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
        self.admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")  # for CREATE DATABASE: never behind a drop
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="drop-test-database")
        self._pending = []

    def create(self, name: str, template: str) -> None:
        """``name`` as a copy of ``template``, by PostgreSQL's default strategy (FILE_COPY, tried here, cost the
        server as much CPU over the PostgreSQL tests of tests/idp and forces a checkpoint on every copy)."""
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))

    def drop(self, name: str) -> None:
        self._pending.append(self._pool.submit(self._drop, name))

    def _drop(self, name: str) -> None:
        with self._admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._admin.dispose()
        self.admin.dispose()
        for future in self._pending:
            future.result()  # a drop that failed fails the session's last test instead of passing unseen


@pytest.fixture(scope="session")
def _pg_dropper() -> Iterator[_Dropper]:
    dropper = _Dropper()
    yield dropper
    dropper.close()


class Snapshots:
    """The session's (one xdist worker's) snapshots for :meth:`Storage.restore`."""

    def __init__(self, root: Path, sqlite_template: Path, pg_template: str | None, server: _Dropper) -> None:
        self._root, self._sqlite_template, self._pg_template, self._server = root, sqlite_template, pg_template, server
        self._made: dict[tuple, tuple[str, Path, Any]] = {}  # (kind, key) -> (database, files, built)
        self.databases: list[str] = []  # PostgreSQL templates, dropped at the session's end

    def snapshot(self, kind: str, key: tuple, build: Callable[[Storage, Path], Any]) -> tuple[str, Path, Any]:
        """(database file or name, directory of files, what ``build`` returned), made on first use."""
        if (kind, key) not in self._made:
            self._made[(kind, key)] = self._make(kind, build)
        return self._made[(kind, key)]

    def _make(self, kind: str, build: Callable[[Storage, Path], Any]) -> tuple[str, Path, Any]:
        number = uuid.uuid4().hex[:10]  # a build that failed leaves its files behind
        files = self._root / f"snapshot-{number}"
        files.mkdir()
        if kind == "sqlite":
            database = str(self._root / f"snapshot-{number}.db")
            shutil.copyfile(self._sqlite_template, database)
            url = make_url(f"sqlite:///{database}")
        else:
            database = f"yitong_snap_{number}"
            self._server.create(database, self._pg_template)
            self.databases.append(database)
            url = make_url(PG_URL).set(database=database)
        snapshot = Storage(kind, open_runtime(None), None, url=url)
        try:
            built = build(snapshot, files)
        finally:
            snapshot.dispose()  # a template database takes no connections; an SQLite file is whole when closed
        return database, files, built


@pytest.fixture(scope="session")
def _snapshots(tmp_path_factory, _sqlite_template, _pg_template, _pg_dropper) -> Iterator[Snapshots]:
    snapshots = Snapshots(tmp_path_factory.mktemp("snapshots"), _sqlite_template, _pg_template, _pg_dropper)
    yield snapshots
    for name in snapshots.databases:
        _pg_dropper.drop(name)


@pytest.fixture(params=["sqlite", "postgres"])
def storage(request, tmp_path, _sqlite_template, _pg_template, _pg_dropper, _snapshots) -> Iterator[Storage]:
    if request.param == "sqlite":
        path = tmp_path / "yitong.db"
        shutil.copyfile(_sqlite_template, path)
        made = Storage("sqlite", open_runtime(None), None, url=make_url(f"sqlite:///{path}"), snapshots=_snapshots)
        yield made
        made.dispose()
        return
    require_services("postgres", "redis")
    created: list[str] = []

    def create(template: str | None) -> URL:
        """A new database from ``template`` (else the migrated one); the one it replaces is dropped."""
        name = f"yitong_t_{uuid.uuid4().hex[:12]}"
        _pg_dropper.create(name, template or _pg_template)
        for old in created:
            _pg_dropper.drop(old)
        created[:] = [name]
        return make_url(PG_URL).set(database=name)

    prefix = f"yitong-test:{uuid.uuid4().hex[:12]}:"
    runtime = open_runtime(REDIS_URL, prefix=prefix)
    made = Storage("postgres", runtime, REDIS_URL, create=create, snapshots=_snapshots)
    yield made
    made.dispose()
    client = runtime.store.client
    for key in client.scan_iter(match=f"{prefix}*"):
        client.delete(key)
    for name in created:
        _pg_dropper.drop(name)


@pytest.fixture
def yitong_env(tmp_path) -> dict[str, str]:
    """A clean environment for running the `yitong` CLI against a fresh home under tmp_path."""
    env = clean_env()
    env["YITONG_HOME"] = str(tmp_path / "home")
    return env


class Upgraded(NamedTuple):
    env: dict[str, str]  # yitong_env and the storage's settings
    output: bytes  # what `yitong db upgrade` printed


@pytest.fixture
def upgraded_home(storage, yitong_env, tmp_path) -> Upgraded:
    """``yitong_env`` on a home and database that `yitong db upgrade` made: the session (each xdist worker)
    runs it once per storage kind and each test gets a copy of its own (Storage.restore). For tests of the
    commands an operator runs after the upgrade; a test of the upgrade itself runs it."""

    def upgrade(snapshot: Storage, directory: Path) -> bytes:
        result = run_yitong(["db", "upgrade"], {**yitong_env, "YITONG_HOME": str(directory / "home"), **snapshot.env()})
        assert result.returncode == 0, result.stderr
        return result.stdout

    output = storage.restore(("db upgrade",), upgrade, tmp_path)
    return Upgraded({**yitong_env, **storage.env()}, output)


@pytest.fixture
def private_redis(tmp_path) -> Iterator[PrivateRedis]:
    """A started redis-server of this test's own (see :class:`tests.helpers.PrivateRedis`)."""
    server = PrivateRedis(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


SLOW_TESTS = Path(__file__).with_name("slow_tests.txt")
PER_TEST_SECONDS = 0.5  # what a test not on the list costs, about (on the scale of tests/slow_tests.txt)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items) -> None:
    """Under ``--dist loadgroup``, the tests that use a module-scoped fixture (a served home, a PKI, a
    browser) run on one worker, so the fixture is built once and not once per worker. Tests that name
    their own ``xdist_group`` keep it.

    Then, under ``--dist loadgroup``, the work units (a group, or a test of no group) are ordered longest
    first by the seconds in tests/slow_tests.txt: xdist (with ``--no-loadscope-reorder``, as `make test`
    runs it) hands them out in this order, so no minutes-long test starts last while the other workers
    sit idle at the end."""
    for item in items:
        if item.get_closest_marker("xdist_group") is not None:
            continue
        fixtures = getattr(item, "_fixtureinfo", None)
        if fixtures is None:
            continue
        if any(definitions[-1].scope == "module" for definitions in fixtures.name2fixturedefs.values()):
            item.add_marker(pytest.mark.xdist_group(f"module:{item.module.__name__}"))
    if _loadgroup(config):  # a run without xdist keeps the files' order
        items[:] = longest_first(items, known_seconds())


def _loadgroup(config) -> bool:
    """True under ``--dist loadgroup``: in the controller, and in an xdist worker, which collects the tests the
    scheduler hands out (and in whose order) but runs with ``dist`` set to "no" and ``loadgroup`` set instead."""
    return config.getoption("dist", "no") == "loadgroup" or bool(getattr(config.option, "loadgroup", False))


@pytest.hookimpl(trylast=True, specname="pytest_collection_modifyitems")
def pytest_collection_modifyitems_groups_reach_xdist(config, items) -> None:
    """After pytest-xdist's own hook: every grouped test's id must carry its ``@group`` suffix, which is all
    the loadgroup scheduler reads. pytest-xdist 3.8 sets ``item._nodeid``, which pytest 9.2 no longer reads
    (a node's id is its ``_id`` there): groups were silently ignored, so a module's tests were spread over the
    workers and each worker built the module's servers, PKIs and browsers again. Every test fails then, with
    the reason (an error raised here would reach the controller as a bare INTERNALERROR)."""
    if not (_loadgroup(config) and os.environ.get("PYTEST_XDIST_WORKER")):
        return
    lost = [item.nodeid for item in items if item.get_closest_marker("xdist_group") and "@" not in item.nodeid]
    if lost:
        config.stash[_GROUPS_LOST] = (
            f"pytest-xdist did not tag {len(lost)} grouped tests with their group (first: {lost[0]}): this pytest "
            "and pytest-xdist do not work together (see the pins in pyproject.toml)")


_GROUPS_LOST = pytest.StashKey[str]()


def pytest_runtest_setup(item) -> None:
    problem = item.config.stash.get(_GROUPS_LOST, None)
    if problem:
        pytest.fail(problem, pytrace=False)


def known_seconds() -> dict[str, float]:
    """Test id → seconds (setup + call + teardown) from tests/slow_tests.txt ("seconds test-id" lines)."""
    seconds: dict[str, float] = {}
    for line in SLOW_TESTS.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            value, nodeid = line.split(maxsplit=1)
            seconds[nodeid] = seconds.get(nodeid, 0.0) + float(value)
    return seconds


def longest_first(items: list, seconds: dict[str, float]) -> list:
    """``items`` with their work units (xdist group, else the test alone) in order of falling cost; a
    unit's tests keep their order, and so do units of equal cost (a stable sort)."""
    units: dict[str, list] = {}
    for item in items:
        group = item.get_closest_marker("xdist_group")
        name = (group.args[0] if group.args else group.kwargs.get("name", "default")) if group else item.nodeid
        units.setdefault(name, []).append(item)

    def cost(unit: list) -> float:
        return sum(seconds.get(item.nodeid, PER_TEST_SECONDS) for item in unit)

    return [item for unit in sorted(units.values(), key=cost, reverse=True) for item in unit]


CPU_LOG = os.environ.get("YITONG_TEST_CPU_LOG")  # a file: append "cpu-seconds test-id" for every test


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """With YITONG_TEST_CPU_LOG set, the CPU seconds (user + system) each test's setup, call and teardown
    cost this process and the children it waited for (a server started by a fixture counts where it is
    stopped), appended to that file. Unlike --durations it does not grow when other work shares the
    machine; PostgreSQL's own CPU, and a browser's that is still running, are not in it."""
    if not CPU_LOG:
        yield
        return
    import resource

    def spent() -> float:
        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

    before = spent()
    yield
    with open(CPU_LOG, "a", encoding="utf-8") as log:
        log.write(f"{spent() - before:.3f} {item.nodeid}\n")


# The test processes make thousands of apps, engines and documents: with Python's default thresholds the
# cyclic collector took about a sixth of the CPU of tests/idp (80 s → 70 s wall with this). Served the same way.
collect_garbage_less_often()
