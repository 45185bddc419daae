"""verified_claims through the certified relying party openid-client v6 (tests/interop/assurance.mjs)
against the real `yitong serve` over HTTPS: one client an operator allowed the claims and the ID
number, one not allowed anything. openid-client validates the ID token and the userinfo response;
these tests check what arrived."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from idp.assurance import ID_NUMBER_CLAIM
from tests.baselib.server import ZHANG
from tests.helpers import check_run, free_port, issue_tls_server_certificate, run_yitong, wait_until_healthy
from tests.interop.test_openid_client import _yitong_exe, node  # noqa: F401  (node: npm ci'd openid-client)

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("interop-assurance")]

INTEROP = Path(__file__).resolve().parent.parent / "interop"
PASSWORD = "Tianjin-2026-correct"
EVIDENCE = {"type": "electronic_record", "time": "2026-11-01T08:00:00+00:00",
            "check_details": [{"check_method": "data", "organization": "population library", "txn": "t-1"}]}


@pytest.fixture(scope="module")
def results(tmp_path_factory, node):  # noqa: F811
    tmp = tmp_path_factory.mktemp("assurance-interop")
    port = free_port()
    issuer = f"https://localhost:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("YITONG_")}
    env.update(YITONG_HOME=str(tmp / "home"), YITONG_ISSUER=issuer)
    check_run(run_yitong(["db", "upgrade"], env), "yitong db upgrade")
    chain, key, ca_file = issue_tls_server_certificate(env, tmp)
    users = {}
    for username in ("zhang", "wang"):
        users[username] = json.loads(check_run(run_yitong(
            ["user", "create", "--username", username, "--password-stdin", "--json"], env,
            input=f"{PASSWORD}\n".encode()), "yitong user create"))
    _bind_identity(env, users["zhang"]["sub"])
    rp = f"http://127.0.0.1:{free_port()}/cb"
    clients = {}
    for name, release in (("allowed", ["--release", "verified_claims", "--release", "id_number"]), ("plain", [])):
        clients[name] = json.loads(check_run(run_yitong(
            ["client", "create", "--name", f"RP {name}", "--redirect-uri", rp, "--grant", "authorization_code",
             "--scope", "openid profile verified_claims", *release, "--json"], env), "yitong client create"))
    log = tmp / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen([_yitong_exe(), "serve", "--port", str(port), "--certfile", str(chain),
                                    "--keyfile", str(key)], env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        wait_until_healthy(process, issuer, log.read_text, context=ssl.create_default_context(cafile=str(ca_file)))
        journeys = {"allowed": ("allowed", "zhang"), "plain": ("plain", "zhang"), "unverified": ("allowed", "wang")}
        node_env = {k: v for k, v in os.environ.items() if not k.startswith(("NODE_", "YITONG_"))}
        node_env["NODE_EXTRA_CA_CERTS"] = str(ca_file)
        running = {}
        for journey, (client_name, username) in journeys.items():
            params = {"issuer": issuer, "client_id": clients[client_name]["client_id"],
                      "client_secret": clients[client_name]["client_secret"], "redirect_uri": rp,
                      "scope": "openid profile verified_claims", "login": username, "password": PASSWORD}
            running[journey] = subprocess.Popen([node, "assurance.mjs"], cwd=INTEROP,
                                                env={**node_env, "INTEROP_PARAMS": json.dumps(params)},
                                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out = {}
        for journey, proc in running.items():
            stdout, stderr = proc.communicate(timeout=60)
            lines = stdout.strip().splitlines()
            assert proc.returncode == 0 and lines, f"{journey}: {stderr}\n{log.read_text()[-3000:]}"
            out[journey] = json.loads(lines[-1])["steps"]
        yield {"issuer": issuer, "users": users, "steps": out}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def _bind_identity(env: dict, sub: str) -> None:
    """Zhang's real name, recorded as /account/realname records a population-library match."""
    from idp.identity import Identities
    from yitong.home import Home
    from yitong.settings import Settings

    home = Home(Settings.from_env(env))
    Identities(home.engine, home.keystore()).bind(sub, id_type="resident", name=ZHANG[0], id_number=ZHANG[1],
                                                  trust_framework="cn_population_library", evidence=EVIDENCE,
                                                  verified_at=datetime(2026, 11, 1, 8, 0, tzinfo=UTC))
    home.engine.dispose()


def passed(steps: dict, name: str):
    result = steps[name]
    assert result["ok"], f"step {name} failed:\n{json.dumps(result, indent=1, ensure_ascii=False)}"
    return result["value"]


def test_openid_client_reads_the_oidc4ia_discovery_metadata(results):
    meta = passed(results["steps"]["allowed"], "discovery")
    assert meta["verified_claims_supported"] is True
    assert meta["trust_frameworks_supported"] == ["cn_population_library"]
    assert meta["evidence_supported"] == ["electronic_record", "vouch"]
    assert meta["claims_in_verified_claims_supported"] == ["name", ID_NUMBER_CLAIM]
    assert {"acr", "verified_claims"} <= set(meta["claims_supported"])


def test_an_allowed_client_gets_verified_claims_in_a_validated_id_token_and_userinfo(results):
    steps = results["steps"]["allowed"]
    granted = passed(steps, "code_grant")
    expected = {"verification": {"trust_framework": "cn_population_library", "time": "2026-11-01T08:00:00+00:00",
                                 "evidence": [EVIDENCE]},
                "claims": {"name": ZHANG[0], ID_NUMBER_CLAIM: ZHANG[1]}}
    assert granted["claims"]["sub"] == results["users"]["zhang"]["sub"]
    assert granted["claims"]["iss"] == results["issuer"]
    assert granted["claims"]["verified_claims"] == expected
    assert passed(steps, "userinfo")["verified_claims"] == expected


def test_the_claims_parameter_narrows_the_release_through_openid_client(results):
    steps = results["steps"]["allowed"]
    assert "verified_claims" not in passed(steps, "claims_parameter")["claims"]
    assert passed(steps, "claims_parameter_userinfo")["verified_claims"] == {
        "verification": {"trust_framework": "cn_population_library"}, "claims": {"name": ZHANG[0]}}


def test_a_client_not_allowed_gets_neither_verified_claims_nor_the_id_number(results):
    steps = results["steps"]["plain"]
    claims, info = passed(steps, "code_grant")["claims"], passed(steps, "userinfo")
    assert claims["sub"] == info["sub"] == results["users"]["zhang"]["sub"]
    assert "verified_claims" not in claims and "verified_claims" not in info
    assert ZHANG[1] not in json.dumps(claims) + json.dumps(info)
    narrow = passed(steps, "claims_parameter_userinfo")  # asking by the claims parameter changes nothing
    assert "verified_claims" not in narrow and ZHANG[1] not in json.dumps(narrow)


def test_a_person_without_a_verified_identity_gets_no_verified_claims(results):
    steps = results["steps"]["unverified"]
    claims, info = passed(steps, "code_grant")["claims"], passed(steps, "userinfo")
    assert claims["sub"] == results["users"]["wang"]["sub"]
    assert "verified_claims" not in claims and "verified_claims" not in info
