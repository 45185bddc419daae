"""The public URL lives in the home: every command and the server use the one it was set up with.

Issue 12, item 15 (`make run PORT=8123`, then a CLI command in a second shell sealed with
:8000 URLs) and item 17 (the CLI finds the same home from any folder).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest
from asn1crypto import pem, x509

from tests.conftest import REPO
from tests.helpers import check_run, clean_env, free_port, require_tool, run_yitong
from tests.yitong.test_serve import running_server
from yitong.settings import Settings


def _set_up(env: dict[str, str], issuer: str) -> dict[str, str]:
    """`yitong db upgrade` in the first shell, with YITONG_ISSUER as `make run PORT=...` exports it."""
    check_run(run_yitong(["db", "upgrade"], {**env, "YITONG_ISSUER": issuer}), "yitong db upgrade")
    return {k: v for k, v in env.items() if k != "YITONG_ISSUER"}  # the second shell has no YITONG_ISSUER


def _issue_seal_certificate(env: dict[str, str], out: Path) -> x509.Certificate:
    kid = json.loads(check_run(run_yitong(["keys", "generate", "--purpose", "seal", "--algorithm", "sm2", "--json"],
                                          env), "keys generate"))["kid"]
    check_run(run_yitong(["pki", "issue", "--profile", "seal", "--kid", kid, "--subject", "CN=Second Shell,C=CN",
                          "--out", str(out)], env), "pki issue")
    return x509.Certificate.load(pem.unarmor(out.read_bytes())[2])


def _revocation_urls(certificate: x509.Certificate) -> list[str]:
    return [*certificate.crl_distribution_points[0]["distribution_point"].native,
            *certificate.ocsp_urls]


def test_a_command_in_a_second_shell_and_the_server_use_the_url_the_home_was_set_up_with(storage, yitong_env,
                                                                                         tmp_path):
    issuer = f"http://127.0.0.1:{free_port()}"
    env = _set_up({**yitong_env, **storage.env()}, issuer)

    shown = json.loads(check_run(run_yitong(["home", "show", "--json"], env), "home show"))
    assert shown["public_url"] == issuer and shown["home"] == env["YITONG_HOME"]
    urls = _revocation_urls(_issue_seal_certificate(env, tmp_path / "seal.pem"))
    assert urls and all(url.startswith(f"{issuer}/pki/") for url in urls), urls

    # One worker: the URL is the home's whatever their number (with Redis the default starts 2 x cores + 1).
    with running_server(env, "--workers", "1") as (base, process):  # on another port than the URL's: it says so
        with urllib.request.urlopen(f"{base}/.well-known/openid-configuration", timeout=10) as response:
            assert json.load(response)["issuer"] == issuer
    assert f"warning: this home's public URL {issuer} is on this machine but not on port".encode() in \
        process.stdout.read()


def test_an_environment_naming_another_url_is_refused_with_the_command_that_changes_it(yitong_env):
    issuer = "http://127.0.0.1:8123"
    env = _set_up(yitong_env, issuer)
    other = {**env, "YITONG_ISSUER": "http://127.0.0.1:8000"}
    for command in (["keys", "list"], ["serve", "--port", str(free_port())], ["db", "upgrade"]):
        result = run_yitong(command, other)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        message = result.stderr.decode()
        assert message.count("\n") == 1 and message.startswith("yitong: error: YITONG_ISSUER is "), message
        assert issuer in message and "`yitong home set-url http://127.0.0.1:8000`" in message
    check_run(run_yitong(["keys", "list"], {**env, "YITONG_ISSUER": issuer + "/"}), "the same URL, written differently")


def test_set_url_moves_new_certificates_to_the_new_url_and_says_what_old_ones_keep(yitong_env, tmp_path):
    old, new = "http://127.0.0.1:8123", "https://id.example.gov.cn"
    env = _set_up(yitong_env, old)
    before = _issue_seal_certificate(env, tmp_path / "before.pem")

    changed = run_yitong(["home", "set-url", new + "/"], {**env, "YITONG_ISSUER": new})
    said = check_run(changed, "home set-url").decode()
    assert f"{old} -> {new}" in said
    assert f"keep naming {old}/pki for their CRL and OCSP" in said and "CA certificates included" in said

    assert json.loads(check_run(run_yitong(["home", "show", "--json"], env), "home show"))["public_url"] == new
    after = _issue_seal_certificate(env, tmp_path / "after.pem")
    assert all(url.startswith(f"{new}/pki/") for url in _revocation_urls(after))
    assert all(url.startswith(f"{old}/pki/") for url in _revocation_urls(before))
    refused = run_yitong(["keys", "list"], {**env, "YITONG_ISSUER": old})
    assert refused.returncode == 2 and f"public URL is {new}" in refused.stderr.decode()


def test_a_home_set_up_before_urls_were_recorded_records_the_url_its_cas_name(yitong_env):
    from sqlalchemy import delete

    from keys.keystore.models import meta_table
    from yitong import db

    issuer = "http://127.0.0.1:8123"
    env = _set_up(yitong_env, issuer)
    engine = db.make_engine(Settings.from_env(env).database_url)
    with engine.begin() as conn:  # as an older version left it
        conn.execute(delete(meta_table).where(meta_table.c.name == "public_url"))
    engine.dispose()

    refused = run_yitong(["db", "upgrade"], {**env, "YITONG_ISSUER": "http://127.0.0.1:8000"})
    assert refused.returncode == 2 and f"public URL is {issuer}" in refused.stderr.decode()
    check_run(run_yitong(["db", "upgrade"], env), "db upgrade without YITONG_ISSUER")
    assert json.loads(check_run(run_yitong(["home", "show", "--json"], env), "home show"))["public_url"] == issuer


def test_a_bad_url_for_set_url_is_a_one_line_error(yitong_env):
    env = _set_up(yitong_env, "http://127.0.0.1:8123")
    for bad in ("not a url", "http://0.0.0.0:8080"):
        result = run_yitong(["home", "set-url", bad], env)
        assert result.returncode == 2 and result.stderr.count(b"\n") == 1 and b"Traceback" not in result.stderr


@pytest.mark.parametrize("wildcard", ["http://0.0.0.0:8080", "http://[::]:8080"])
def test_a_wildcard_listen_address_is_never_the_public_url(yitong_env, wildcard):
    result = run_yitong(["db", "upgrade"], {**yitong_env, "YITONG_ISSUER": wildcard})
    assert result.returncode == 2
    assert b"not one clients can reach" in result.stderr and b"Traceback" not in result.stderr
    assert not (Path(yitong_env["YITONG_HOME"]) / "yitong.db").exists()


def test_make_run_on_a_wildcard_host_asks_for_the_public_url_instead_of_serving(yitong_env, tmp_path):
    make = require_tool("make")
    process = subprocess.Popen([make, "-s", "run", "HOST=0.0.0.0", f"PORT={free_port()}"], cwd=REPO, env=yitong_env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        _out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:  # it started serving: stop it (the assertions below then fail)
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    assert process.returncode != 0
    assert b"HOST=0.0.0.0 listens on every address" in err and b"YITONG_ISSUER=http://" in err
    assert not Path(yitong_env["YITONG_HOME"]).exists()  # nothing was set up with a wrong URL


def test_the_default_home_does_not_depend_on_the_current_folder(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert Settings.from_env({}).home == REPO / "var"


def test_the_checkout_wrapper_runs_from_any_folder_with_the_same_home(tmp_path):
    env = clean_env()
    result = subprocess.run([str(REPO / "bin" / "yitong"), "home", "show", "--json"], cwd=tmp_path, env=env,
                            capture_output=True, timeout=120)
    assert json.loads(check_run(result, "bin/yitong home show"))["home"] == str(REPO / "var")
