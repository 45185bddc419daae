"""The backup → destroy → restore drill (issue 16, item 4), on PostgreSQL through the real CLI
and a real `yitong serve`: pg_dump / pg_restore, the PKI files, the manifest's hashes; the master
key kept apart. After the restore onto a fresh database and a fresh home, the person signs in, an
old refresh token still refreshes, the existing seal seals, and a document sealed before the backup
still verifies. A restore with the wrong master key, or onto a database that is not empty, or
from a tampered backup, is refused with one line and changes nothing."""

from __future__ import annotations

import base64
import json
import shutil
import uuid
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from tests.conftest import PG_URL, require_services
from tests.helpers import check_run, run_yitong
from tests.seal.pdfs import make_pdf
from tests.yitong.test_accesslog import PHONE, _journey, _prepare
from tests.yitong.test_observability import _call
from tests.yitong.web_support import PASSWORD, Browser, granted_seal, serve

pytestmark = pytest.mark.e2e


@pytest.fixture
def databases():
    """Two new, empty PostgreSQL databases (the installation's and the one restored onto)."""
    require_services("postgres")
    names = [f"yitong_drill_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield [make_url(PG_URL).set(database=name) for name in names], admin
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _tables(url) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return inspect(conn).get_table_names()
    finally:
        engine.dispose()


def _seal_token(base: str, issuer: str, biz: dict) -> str:
    basic = base64.b64encode(f"{biz['client_id']}:{biz['client_secret']}".encode()).decode()
    status, _, body = _call(base, "POST", "/token", body=urlencode(
        {"grant_type": "client_credentials", "resource": f"{issuer}/seal"}).encode(), headers={
        "Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200, body
    return json.loads(body)["access_token"]


def _seal(base: str, esid: str, access: str, tag: str) -> bytes:
    status, _, sealed = _call(base, "POST", f"/seal/seals/{esid}/sign", body=make_pdf(1, tag=tag), headers={
        "Authorization": f"Bearer {access}", "Content-Type": "application/pdf"})
    assert status == 200 and sealed.startswith(b"%PDF"), sealed[:300]
    return sealed


@pytest.mark.timeout(480)  # two servers, pg_dump and pg_restore; about 2 minutes alone
def test_backup_destroy_restore_drill_on_postgresql(yitong_env, tmp_path, databases):
    (original_url, fresh_url), admin = databases
    master_key = tmp_path / "secrets" / "master.key"  # kept apart from the home, as the README says
    master_key.parent.mkdir()
    master_key.write_text(uuid.uuid4().hex + "\n")
    master_key.chmod(0o600)
    env = {**yitong_env, "YITONG_DATABASE_URL": original_url.render_as_string(hide_password=False),
           "YITONG_MASTER_KEY_FILE": str(master_key), "YITONG_BASELIB_MOUNT": "true"}
    client = _prepare(env)
    seal, biz = granted_seal(env)

    with serve(env, tmp_path / "before.log") as base:
        issuer = json.loads(_call(base, "GET", "/.well-known/openid-configuration")[2])["issuer"]
        used = _journey(Browser(base), client, logout=False)  # sign-in, code, tokens, refresh (rotates)
        old_refresh = used[-1]  # the refresh token the refresh handed out, not yet used
        sealed_before = tmp_path / "sealed-before.pdf"
        sealed_before.write_bytes(_seal(base, seal["esid"], _seal_token(base, issuer, biz), "before"))
        # The backup is taken from the live instance, while it serves.
        out = tmp_path / "backup"
        manifest = json.loads(check_run(run_yitong(["backup", "--out", str(out), "--json"], env), "backup"))
    assert manifest["database"]["backend"] == "postgresql"
    parts = {p["path"] for p in manifest["parts"]}
    assert {"database.pgdump", "pki/trust.pem"} <= parts
    backed_up = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    assert master_key.read_text().strip().encode() not in backed_up  # never the master key
    assert not (out / "master.key").exists()

    # Disaster: the database and the home are gone.
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{original_url.database}" WITH (FORCE)'))
    shutil.rmtree(env["YITONG_HOME"])

    new_home = tmp_path / "new-home"
    restored_env = {**env, "YITONG_HOME": str(new_home),
                    "YITONG_DATABASE_URL": fresh_url.render_as_string(hide_password=False)}
    # The wrong master key: one line, nothing written.
    wrong = tmp_path / "secrets" / "wrong.key"
    wrong.write_text(uuid.uuid4().hex + "\n")
    refused = run_yitong(["restore", str(out)], {**restored_env, "YITONG_MASTER_KEY_FILE": str(wrong)})
    assert refused.returncode == 2
    message = refused.stderr.decode().strip()
    assert message.startswith("yitong: error: the master key does not match") and "\n" not in message
    assert _tables(fresh_url) == [] and not new_home.exists()
    # A tampered part: refused before anything is written.
    tampered = tmp_path / "tampered"
    shutil.copytree(out, tampered)
    (tampered / "pki" / "trust.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    refused = run_yitong(["restore", str(tampered)], restored_env)
    assert refused.returncode == 2 and b"pki/trust.pem does not match its SHA-256" in refused.stderr
    assert _tables(fresh_url) == [] and not new_home.exists()

    check_run(run_yitong(["restore", str(out)], restored_env), "restore")
    check_run(run_yitong(["db", "upgrade"], restored_env), "db upgrade after restore")
    again = run_yitong(["restore", str(out)], restored_env)  # not onto a database in use
    assert again.returncode == 2 and b"already holds PKI files" in again.stderr
    assert (new_home / "pki" / "trust.pem").read_bytes() == (out / "pki" / "trust.pem").read_bytes()

    with serve(restored_env, tmp_path / "after.log") as base:
        browser = Browser(base)
        status, headers, page = browser.login(browser.login_form("/"), PHONE, PASSWORD)
        assert status == 302 and "/login" not in headers["location"], page
        basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
        status, _, body = _call(base, "POST", "/token", body=urlencode(
            {"grant_type": "refresh_token", "refresh_token": old_refresh}).encode(), headers={
            "Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"})
        assert status == 200 and "access_token" in json.loads(body), body
        sealed_after = tmp_path / "sealed-after.pdf"
        sealed_after.write_bytes(_seal(base, seal["esid"], _seal_token(base, issuer, biz), "after"))
    trust = new_home / "pki" / "trust.pem"
    for document in (sealed_before, sealed_after):
        checked = run_yitong(["verify", str(document), "--trust", str(trust), "--json"], restored_env)
        assert checked.returncode == 0, checked.stdout.decode()[-2000:] + checked.stderr.decode()
        assert json.loads(checked.stdout)["files"][0]["indication"] == "TOTAL_PASSED"


def test_restore_needs_a_backup_and_a_master_key(yitong_env, tmp_path):
    not_a_backup = tmp_path / "empty"
    not_a_backup.mkdir()
    result = run_yitong(["restore", str(not_a_backup)], yitong_env)
    assert result.returncode == 2 and b"has no manifest.json: not a Yitong backup" in result.stderr
    check_run(run_yitong(["db", "upgrade"], yitong_env), "db upgrade")
    out = tmp_path / "backup"
    check_run(run_yitong(["backup", "--out", str(out)], yitong_env), "backup")  # SQLite: the online backup API
    assert run_yitong(["backup", "--out", str(out)], yitong_env).returncode == 2  # never over an old one
    fresh = {**yitong_env, "YITONG_HOME": str(tmp_path / "fresh")}
    result = run_yitong(["restore", str(out)], fresh)
    assert result.returncode == 2 and b"a restore needs the master key" in result.stderr
    assert not Path(fresh["YITONG_HOME"]).exists()
    master = Path(yitong_env["YITONG_HOME"]) / "master.key"
    check_run(run_yitong(["restore", str(out)], {**fresh, "YITONG_MASTER_KEY_FILE": str(master)}), "restore")
    listed = check_run(run_yitong(["keys", "list"], {**fresh, "YITONG_MASTER_KEY_FILE": str(master)}), "keys list")
    assert b"sm2-root" in listed
