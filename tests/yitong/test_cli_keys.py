"""`yitong db upgrade` and `yitong keys ...` as an operator runs them, on each storage backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import run_yitong


@pytest.fixture
def upgraded_here(storage, yitong_env):
    """A home this test's own `yitong db upgrade` made (the test of what the upgrade creates)."""
    env = {**yitong_env, **storage.env()}
    result = run_yitong(["db", "upgrade"], env)
    assert result.returncode == 0, result.stderr
    return env


@pytest.fixture
def env(upgraded_home):
    return upgraded_home.env


def keys_json(env, *args):
    result = run_yitong(["keys", *args, "--json"], env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_upgrade_creates_token_keys_and_the_ca_keys(upgraded_here):
    env = upgraded_here
    listed = keys_json(env, "list", "--purpose", "token")
    assert sorted((k["purpose"], k["algorithm"], k["state"]) for k in listed) == [
        ("token", "p256", "active"),
        ("token", "sm2", "active"),
    ]
    owners = sorted(k["owner"] for k in keys_json(env, "list", "--purpose", "ca"))
    assert owners == ["p256-issuing", "p256-root", "sm2-issuing", "sm2-root"]


def test_generate_rotate_and_list_tell_the_lifecycle(env):
    made = keys_json(env, "generate", "--purpose", "ca", "--algorithm", "sm2", "--owner", "sm2-root")
    assert (made["purpose"], made["owner"], made["state"]) == ("ca", "sm2-root", "active")
    rotated = keys_json(env, "rotate", "--purpose", "token", "--activate-after", "1h")
    assert sorted(k["algorithm"] for k in rotated) == ["p256", "sm2"]
    assert {k["state"] for k in rotated} == {"pending"}
    states = {k["kid"]: k["state"] for k in keys_json(env, "list", "--purpose", "token")}
    assert sorted(states.values()) == ["active", "active", "pending", "pending"]


def test_rotate_refuses_ca_keys_with_a_reason(env):
    run_yitong(["keys", "generate", "--purpose", "ca", "--algorithm", "sm2"], env)
    result = run_yitong(["keys", "rotate", "--purpose", "ca"], env)
    assert result.returncode == 2
    assert b"PKI rollover" in result.stderr and b"Traceback" not in result.stderr


def test_bad_duration_is_a_usage_error(env):
    result = run_yitong(["keys", "rotate", "--purpose", "token", "--activate-after", "soon"], env)
    assert result.returncode == 2 and b"duration" in result.stderr


def test_rewrap_then_the_old_key_is_refused_and_the_new_one_works(env, tmp_path):
    new_key = tmp_path / "new-master.key"
    count = len(keys_json(env, "list"))
    result = run_yitong(["keys", "rewrap", "--new-master-key-file", str(new_key)], env)
    assert result.returncode == 0, result.stderr
    assert f"re-wrapped {count} key(s)".encode() in result.stdout
    assert new_key.stat().st_mode & 0o777 == 0o600
    old = run_yitong(["keys", "list"], env)
    assert old.returncode == 2 and b"does not match the keystore" in old.stderr
    assert len(keys_json({**env, "YITONG_MASTER_KEY_FILE": str(new_key)}, "list")) == count


def test_rewrap_with_a_wrong_current_key_changes_nothing(env, tmp_path):
    home = Path(env["YITONG_HOME"])
    before = keys_json(env, "list")
    wrong = {**env, "YITONG_MASTER_KEY": "22" * 16}
    result = run_yitong(["keys", "rewrap", "--new-master-key-file", str(tmp_path / "n.key")], wrong)
    assert result.returncode == 2
    assert not (tmp_path / "n.key").exists()
    assert keys_json(env, "list") == before
    assert (home / "master.key").exists()


def test_a_command_closes_its_database_connections_when_it_ends(env):
    """Run in this test's process (no exit to close them), `yitong keys list` leaves no connection open: the
    command's home is closed with its click context (yitong/cli/common.py: closed_with_command)."""
    import gc
    import os

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(env["YITONG_DATABASE_URL"])
    gc.disable()  # nothing may be left for the collector to close
    try:
        keys_json(env, "list")
        if url.get_backend_name() == "sqlite":
            fds = Path("/proc/self/fd")
            open_files = {os.path.realpath(fds / fd) for fd in os.listdir(fds)}
            assert os.path.realpath(url.database) not in open_files
        else:
            admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                left = conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = :name"),
                                    {"name": url.database}).scalar()
            admin.dispose()
            assert left == 0
    finally:
        gc.enable()
