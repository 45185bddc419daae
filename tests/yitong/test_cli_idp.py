"""`yitong user`, `yitong client` and `yitong audit` as an operator runs them."""

from __future__ import annotations

import json

import pytest

from tests.helpers import run_yitong


@pytest.fixture
def env(upgraded_home):
    return upgraded_home.env


def test_user_create_reads_the_password_from_stdin_and_prints_json(env):
    result = run_yitong(["user", "create", "--username", "zhangsan", "--phone", "13900139000", "--password-stdin",
                         "--json"], env, input=b"Tianjin-2026-correct\n")
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert set(created) == {"sub", "username", "phone", "acr"} and created["acr"] == "urn:yitong:loa:1"
    weak = run_yitong(["user", "create", "--username", "lisi", "--password-stdin"], env, input=b"woaini1314\n")
    assert weak.returncode == 2 and b"password refused" in weak.stderr


def test_user_set_level_raises_the_assurance_level_and_is_audited(env):
    created = json.loads(run_yitong(["user", "create", "--username", "wangwu", "--password-stdin", "--json"], env,
                                    input=b"Tianjin-2026-correct\n").stdout)
    done = run_yitong(["user", "set-level", created["sub"], "urn:yitong:loa:4", "--reason", "window check"], env)
    assert done.returncode == 0, done.stderr
    tail = run_yitong(["audit", "tail", "--json"], env)
    events = [json.loads(line) for line in tail.stdout.splitlines()]  # one JSON object per line
    assert any(e["event"] == "user.level_set" and e["sub"] == created["sub"] for e in events), tail.stdout
    unknown = run_yitong(["user", "set-level", "no-such-sub", "urn:yitong:loa:2", "--reason", "x"], env)
    assert unknown.returncode == 2 and b"no such account" in unknown.stderr
    bad = run_yitong(["user", "set-level", created["sub"], "gold", "--reason", "x"], env)
    assert bad.returncode == 2


def test_client_lifecycle_and_its_audit_trail(env):
    made = run_yitong(["client", "create", "--name", "Portal", "--redirect-uri", "https://portal.example.gov.cn/cb",
                       "--grant", "authorization_code", "--grant", "refresh_token", "--scope", "openid profile",
                       "--json"], env)
    assert made.returncode == 0, made.stderr
    info = json.loads(made.stdout)
    assert info["redirect_uris"] == ["https://portal.example.gov.cn/cb"] and len(info["client_secret"]) >= 40
    show = run_yitong(["client", "show", info["client_id"]], env)
    assert show.returncode == 0, show.stderr
    shown = json.loads(show.stdout)
    assert "client_secret" not in shown and shown["scope"] == "openid profile"
    rotated = json.loads(run_yitong(["client", "rotate-secret", info["client_id"], "--json"], env).stdout)
    assert rotated["client_secret"] != info["client_secret"]
    assert run_yitong(["client", "delete", info["client_id"]], env).returncode == 0
    missing = run_yitong(["client", "show", info["client_id"]], env)
    assert missing.returncode == 2 and b"no client" in missing.stderr
    trail = [json.loads(line) for line in run_yitong(["audit", "tail", "--json"], env).stdout.splitlines()]
    assert [e["event"] for e in trail] == ["client.created", "client.secret_rotated", "client.deleted"]
    assert all(e["client_id"] == info["client_id"] for e in trail)


def test_client_without_redirect_uri_for_the_code_grant_is_a_clear_error(env):
    result = run_yitong(["client", "create", "--name", "x", "--grant", "authorization_code"], env)
    assert result.returncode == 2 and b"--redirect-uri" in result.stderr and b"Traceback" not in result.stderr


def test_a_cas_service_is_a_confidential_code_client_and_update_keeps_it(env):
    made = run_yitong(["client", "create", "--name", "Legacy OA", "--redirect-uri", "https://oa.example.gov.cn/cas",
                       "--grant", "authorization_code", "--scope", "openid profile org", "--cas", "--json"], env)
    assert made.returncode == 0, made.stderr
    info = json.loads(made.stdout)
    assert info["yitong_cas"] is True
    renamed = run_yitong(["client", "update", info["client_id"], "--name", "OA", "--json"], env)
    assert json.loads(renamed.stdout)["yitong_cas"] is True  # kept unless --no-cas
    off = run_yitong(["client", "update", info["client_id"], "--no-cas", "--json"], env)
    assert "yitong_cas" not in json.loads(off.stdout)
    public = run_yitong(["client", "create", "--name", "x", "--redirect-uri", "https://oa.example.gov.cn/cas",
                         "--grant", "authorization_code", "--public", "--cas"], env)
    assert public.returncode == 2 and b"--cas needs a confidential client" in public.stderr


def test_client_update_sets_and_removes_a_logo(env, tmp_path):
    import io

    from PIL import Image

    made = json.loads(run_yitong(["client", "create", "--name", "Portal", "--redirect-uri", "https://p.example/cb",
                                  "--grant", "authorization_code", "--json"], env).stdout)
    picture = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 0, 0)).save(picture, "PNG")
    (tmp_path / "logo.png").write_bytes(picture.getvalue())
    (tmp_path / "logo.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    ok = run_yitong(["client", "update", made["client_id"], "--logo", str(tmp_path / "logo.png")], env)
    assert ok.returncode == 0, ok.stderr
    bad = run_yitong(["client", "update", made["client_id"], "--logo", str(tmp_path / "logo.svg")], env)
    assert bad.returncode == 2 and b"not a readable PNG or JPEG" in bad.stderr and b"Traceback" not in bad.stderr
    assert run_yitong(["client", "update", made["client_id"], "--no-logo"], env).returncode == 0
