"""Settings are validated at start-up with messages an operator can act on."""

from __future__ import annotations

from pathlib import Path

import pytest

from keys import stepup
from tests.helpers import run_yitong
from yitong.settings import Settings, SettingsError, normalise_issuer


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://id.example.gov.cn/", "https://id.example.gov.cn"),
        ("https://ID.Example.gov.cn/tj/", "https://id.example.gov.cn/tj"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    ],
)
def test_issuer_is_normalised_without_a_trailing_slash(raw, expected):
    assert normalise_issuer(raw) == expected


@pytest.mark.parametrize("raw", ["id.example.gov.cn", "ftp://x", "https://x/?a=1", "https://x/#f", "https://u@x"])
def test_bad_issuers_are_refused(raw):
    with pytest.raises(SettingsError, match="YITONG_ISSUER"):
        normalise_issuer(raw)


def test_defaults_are_the_embedded_mode(tmp_path):
    settings = Settings.from_env({"YITONG_HOME": str(tmp_path)})
    assert settings.embedded
    assert settings.database_url.database == str(tmp_path / "yitong.db")
    assert settings.issuer == "http://127.0.0.1:8000"
    assert settings.sm2_backend == "auto"


def test_verify_limits_come_from_the_same_environment_as_every_setting(tmp_path):
    settings = Settings.from_env({"YITONG_HOME": str(tmp_path), "YITONG_VERIFY_MAX_BYTES": "4096",
                                  "YITONG_VERIFY_RATE_LIMIT": "7"})
    assert (settings.verify_max_bytes, settings.verify_rate_limit) == (4096, 7)
    defaults = Settings.from_env({"YITONG_HOME": str(tmp_path)})
    assert (defaults.verify_max_bytes, defaults.verify_rate_limit) == (20 * 1024 * 1024, 30)


def test_pdf_limits_and_verify_concurrency_come_from_the_environment(tmp_path):
    settings = Settings.from_env({"YITONG_HOME": str(tmp_path), "YITONG_PDF_MAX_PAGES": "50",
                                  "YITONG_PDF_MAX_OBJECTS": "1000", "YITONG_PDF_SECONDS": "2.5",
                                  "YITONG_VERIFY_CONCURRENCY": "4"})
    assert (settings.pdf_max_pages, settings.pdf_max_objects, settings.pdf_seconds, settings.verify_concurrency) \
        == (50, 1000, 2.5, 4)
    defaults = Settings.from_env({"YITONG_HOME": str(tmp_path)})
    assert (defaults.pdf_max_pages, defaults.pdf_max_objects, defaults.pdf_seconds, defaults.verify_concurrency) \
        == (10_000, 500_000, 30.0, 2)


def test_the_operator_step_up_window_is_a_setting_the_rule_honours(tmp_path):
    """YITONG_ADMIN_STEPUP_SECONDS reaches keys/stepup.py as the composition root passes it (app config):
    a sign-in 200 s ago is recent enough at 600, too old at 100, and at the default 300."""
    claims = {"sub": "person", "client_id": "console", "auth_time": 1_000_000}
    now = 1_000_000 + 200
    for value, needed in (("600", False), ("100", True)):
        settings = Settings.from_env({"YITONG_HOME": str(tmp_path), "YITONG_ADMIN_STEPUP_SECONDS": value})
        window = stepup.window({stepup.CONFIG_KEY: settings.admin_stepup_seconds})
        assert window == int(value) and stepup.needed(claims, window, now=now) is needed
        assert f"max_age={value}" in stepup.challenge(window)
    default = Settings.from_env({"YITONG_HOME": str(tmp_path)}).admin_stepup_seconds
    assert default == stepup.window({}) == 300 and not stepup.needed(claims, default, now=now)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"YITONG_DATABASE_URL": "not a url"}, "YITONG_DATABASE_URL"),
        ({"YITONG_DATABASE_URL": "mysql://root@localhost/x"}, "unsupported database"),
        ({"YITONG_DATABASE_URL": "sqlite://"}, "in-memory"),
        ({"YITONG_DATABASE_URL": "postgresql+psycopg2://u@h/db"}, "psycopg2"),
        ({"YITONG_REDIS_URL": "http://localhost"}, "YITONG_REDIS_URL"),
        ({"YITONG_REDIS_PREFIX": "yitong"}, "YITONG_REDIS_PREFIX"),
        ({"YITONG_REDIS_PREFIX": "a b:"}, "YITONG_REDIS_PREFIX"),
        ({"YITONG_SM2_BACKEND": "fast"}, "YITONG_SM2_BACKEND"),
        ({"YITONG_PASSWORD_ARGON2": "19 MiB"}, "YITONG_PASSWORD_ARGON2"),
        ({"YITONG_MASTER_KEY": "00" * 16, "YITONG_MASTER_KEY_FILE": "/x"}, "not both"),
        ({"YITONG_VERIFY_MAX_BYTES": "lots"}, "YITONG_VERIFY_MAX_BYTES"),
        ({"YITONG_VERIFY_MAX_BYTES": "100"}, "YITONG_VERIFY_MAX_BYTES"),
        ({"YITONG_VERIFY_RATE_LIMIT": "0"}, "YITONG_VERIFY_RATE_LIMIT"),
        ({"YITONG_VERIFY_CONCURRENCY": "0"}, "YITONG_VERIFY_CONCURRENCY"),
        ({"YITONG_PDF_MAX_PAGES": "many"}, "YITONG_PDF_MAX_PAGES"),
        ({"YITONG_PDF_SECONDS": "0"}, "YITONG_PDF_SECONDS"),
        ({"YITONG_ADMIN_STEPUP_SECONDS": "soon"}, "YITONG_ADMIN_STEPUP_SECONDS"),
        ({"YITONG_ADMIN_STEPUP_SECONDS": "0"}, "YITONG_ADMIN_STEPUP_SECONDS"),
    ],
)
def test_bad_settings_are_refused_with_the_variable_named(env, message, tmp_path):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({"YITONG_HOME": str(tmp_path), **env})


def _assert_one_line_error(result, *needles):
    stderr = result.stderr.decode()
    assert result.returncode == 2, (result.returncode, stderr)
    assert "Traceback" not in stderr
    assert stderr.startswith("yitong: error: ")
    assert len(stderr.strip().splitlines()) == 1, stderr
    for needle in needles:
        assert needle in stderr


def test_serve_with_a_bad_database_url_exits_with_a_clear_message(yitong_env):
    result = run_yitong(["serve"], {**yitong_env, "YITONG_DATABASE_URL": "postgresql+psycopg://nobody@/"})
    _assert_one_line_error(result, "YITONG_DATABASE_URL")


def test_unreachable_database_is_a_clear_message(yitong_env):
    env = {**yitong_env, "YITONG_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"}
    result = run_yitong(["db", "upgrade"], env)
    _assert_one_line_error(result, "unreachable")


def test_unreadable_master_key_file_exits_with_a_clear_message(yitong_env, tmp_path):
    assert run_yitong(["db", "upgrade"], yitong_env).returncode == 0
    missing = tmp_path / "nowhere" / "master.key"
    result = run_yitong(["serve"], {**yitong_env, "YITONG_MASTER_KEY_FILE": str(missing)})
    _assert_one_line_error(result, str(missing))
    directory = tmp_path / "a-directory"
    directory.mkdir()
    result = run_yitong(["keys", "list"], {**yitong_env, "YITONG_MASTER_KEY_FILE": str(directory)})
    _assert_one_line_error(result, "cannot read master key file")


def test_malformed_master_key_exits_with_a_clear_message(yitong_env, tmp_path):
    bad = tmp_path / "bad.key"
    bad.write_text("not hex at all")
    result = run_yitong(["db", "upgrade"], {**yitong_env, "YITONG_MASTER_KEY_FILE": str(bad)})
    _assert_one_line_error(result, "32 hex digits")


def test_wrong_master_key_for_the_keystore_exits_with_a_clear_message(yitong_env, tmp_path):
    assert run_yitong(["db", "upgrade"], yitong_env).returncode == 0
    result = run_yitong(["keys", "list"], {**yitong_env, "YITONG_MASTER_KEY": "11" * 16})
    _assert_one_line_error(result, "does not match the keystore")


def test_serve_before_upgrade_says_to_run_the_upgrade(yitong_env):
    result = run_yitong(["serve"], yitong_env)
    _assert_one_line_error(result, "yitong db upgrade")


def test_first_upgrade_creates_a_private_master_key_and_warns(yitong_env):
    result = run_yitong(["db", "upgrade"], yitong_env)
    assert result.returncode == 0, result.stderr
    master = Path(yitong_env["YITONG_HOME"]) / "master.key"
    assert master.stat().st_mode & 0o777 == 0o600
    assert b"WARNING: generated a new master key" in result.stderr
    again = run_yitong(["db", "upgrade"], yitong_env)
    assert again.returncode == 0 and b"WARNING" not in again.stderr and b"created" not in again.stdout


def test_a_password_cost_below_owasps_is_a_warning_at_start(tmp_path, caplog):
    """The suite runs below OWASP's cost (tests/helpers.TEST_PASSWORD_COST), so the service says so; run at
    the real cost (YITONG_PASSWORD_ARGON2=m=19456,t=2,p=1), it says nothing."""
    import logging

    from idp.security import passwords
    from yitong.app import create_app
    from yitong.home import Home

    settings = Settings.from_env({"YITONG_HOME": str(tmp_path / "home")})
    Home(settings).initialise(with_pki=False)
    with caplog.at_level(logging.WARNING, logger="yitong"):
        create_app(settings)
    warned = [r.getMessage() for r in caplog.records if "below the OWASP minimum" in r.getMessage()]
    assert warned == ([f"passwords are hashed with argon2id {passwords.active_cost()}, below the OWASP minimum "
                       "m=19456,t=2,p=1 (YITONG_PASSWORD_ARGON2): for tests only"]
                      if passwords.active_cost().below_owasp else [])


def test_the_redis_prefix_names_the_installations_keys_and_job_queue(tmp_path):
    from tests.conftest import REDIS_URL, require_services
    from yitong.home import Home

    require_services("redis")
    base = {"YITONG_HOME": str(tmp_path / "home"), "YITONG_REDIS_URL": REDIS_URL}
    assert Settings.from_env(base).redis_prefix == "yitong:"
    runtime = Home(Settings.from_env({**base, "YITONG_REDIS_PREFIX": "yitong-staging:"})).runtime
    assert runtime.store.prefix == "yitong-staging:" and runtime.jobs._queue.name == "yitong-staging"
    runtime.store.client.close()
