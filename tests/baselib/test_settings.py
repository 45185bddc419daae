"""YITONG_BASELIB_* and YITONG_CONNECTOR_* settings: defaults, and one clear error per bad value."""

from __future__ import annotations

import base64
import re

import pytest

from tests.helpers import run_yitong
from yitong.settings import Settings, SettingsError


def settings(**env) -> Settings:
    return Settings.from_env({"YITONG_HOME": "/tmp/yitong-settings-test", **env})


def test_defaults_embedded_and_production():
    embedded = settings()
    assert embedded.baselib_mount and embedded.baselib_url is None and embedded.baselib_key is None
    assert (embedded.connector_timeout, embedded.connector_retries) == (5.0, 2)
    assert (embedded.connector_breaker_threshold, embedded.connector_breaker_cooldown) == (5, 30.0)
    assert not settings(YITONG_REDIS_URL="redis://127.0.0.1:6379/0").baselib_mount
    assert not settings(YITONG_BASELIB_MOUNT="false").baselib_mount
    assert settings(YITONG_REDIS_URL="redis://127.0.0.1:6379/0", YITONG_BASELIB_MOUNT="yes").baselib_mount


def test_values():
    assert settings(YITONG_BASELIB_URL="https://lib.example.gov.cn/baselib/").baselib_url == \
        "https://lib.example.gov.cn/baselib"
    assert settings(YITONG_BASELIB_KEY="00112233445566778899aabbccddeeff").baselib_key == bytes.fromhex(
        "00112233445566778899aabbccddeeff")
    raw = bytes(range(20))
    assert settings(YITONG_BASELIB_KEY=base64.b64encode(raw).decode()).baselib_key == raw
    tuned = settings(YITONG_CONNECTOR_TIMEOUT="1.5", YITONG_CONNECTOR_RETRIES="0",
                     YITONG_CONNECTOR_BREAKER_THRESHOLD="3", YITONG_CONNECTOR_BREAKER_COOLDOWN="10")
    assert (tuned.connector_timeout, tuned.connector_retries, tuned.connector_breaker_threshold,
            tuned.connector_breaker_cooldown) == (1.5, 0, 3, 10.0)
    assert "baselib_key" not in repr(settings(YITONG_BASELIB_KEY="00" * 16))  # secrets stay out of reprs


def test_ca_file(tmp_path):
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n", encoding="ascii")
    assert settings(YITONG_BASELIB_CA_FILE=str(path)).baselib_ca_file == path.resolve()
    with pytest.raises(SettingsError, match="YITONG_BASELIB_CA_FILE: cannot read"):
        settings(YITONG_BASELIB_CA_FILE=str(tmp_path / "missing.pem"))


def test_key_file(tmp_path):
    path = tmp_path / "baselib.key"
    path.write_text("ab" * 32 + "\n", encoding="ascii")
    assert settings(YITONG_BASELIB_KEY_FILE=str(path)).baselib_key == bytes.fromhex("ab" * 32)
    with pytest.raises(SettingsError, match="cannot read"):
        settings(YITONG_BASELIB_KEY_FILE=str(tmp_path / "missing"))
    with pytest.raises(SettingsError, match="not both"):
        settings(YITONG_BASELIB_KEY_FILE=str(path), YITONG_BASELIB_KEY="ab" * 16)


@pytest.mark.parametrize("name, value, message", [
    ("YITONG_BASELIB_URL", "ftp://lib.example", "http(s) base URL"),
    ("YITONG_BASELIB_URL", "https://lib.example/baselib?x=1", "no query"),
    ("YITONG_BASELIB_KEY", "00112233", "at least 16 bytes"),
    ("YITONG_BASELIB_KEY", "not a key!", "hex or base64"),
    ("YITONG_BASELIB_MOUNT", "maybe", "true or false"),
    ("YITONG_CONNECTOR_TIMEOUT", "0", "between 0.1 and 60"),
    ("YITONG_CONNECTOR_TIMEOUT", "soon", "a number"),
    ("YITONG_CONNECTOR_RETRIES", "1.5", "an integer"),
    ("YITONG_CONNECTOR_RETRIES", "9", "between 0 and 5"),
    ("YITONG_CONNECTOR_BREAKER_THRESHOLD", "0", "between 1 and 1000"),
    ("YITONG_CONNECTOR_BREAKER_COOLDOWN", "-1", "between 0.1 and 3600"),
])
def test_bad_values_say_what_is_wrong(name, value, message):
    with pytest.raises(SettingsError, match=re.escape(message)) as caught:
        settings(**{name: value})
    assert name in str(caught.value)


def test_the_cli_reports_a_bad_setting_on_one_line(yitong_env):
    result = run_yitong(["baselib", "serve"], {**yitong_env, "YITONG_CONNECTOR_TIMEOUT": "soon"})
    assert result.returncode == 2 and result.stdout == b""
    assert result.stderr.decode().strip().splitlines() == [
        "yitong: error: YITONG_CONNECTOR_TIMEOUT must be a number; got 'soon'"]
