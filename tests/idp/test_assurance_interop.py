"""verified_claims through the certified relying party openid-client v6 (tests/interop/assurance.mjs)
against the real `yitong serve` over HTTPS: one client an operator allowed the claims and the ID
number, one not allowed anything. openid-client validates the ID token and the userinfo response;
these tests check what arrived."""

from __future__ import annotations

import json

import pytest

from idp.assurance import ID_NUMBER_CLAIM
from tests.baselib.server import ZHANG
from tests.helpers import check_run, free_port, run_yitong
from tests.idp.support import POPULATION_EVIDENCE, bind_population_identity
from tests.interop.harness import run_journeys, serve_https
from tests.interop.test_openid_client import node  # noqa: F401  (node: npm ci'd openid-client)

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("interop-assurance")]

PASSWORD = "Tianjin-2026-correct"
EVIDENCE = POPULATION_EVIDENCE


@pytest.fixture(scope="module")
def results(tmp_path_factory, node):  # noqa: F811
    users, clients = {}, {}
    rp = f"http://127.0.0.1:{free_port()}/cb"

    def prepare(env: dict, _ca_file) -> None:
        for username in ("zhang", "wang"):
            users[username] = json.loads(check_run(run_yitong(
                ["user", "create", "--username", username, "--password-stdin", "--json"], env,
                input=f"{PASSWORD}\n".encode()), "yitong user create"))
        bind_population_identity(env, users["zhang"]["sub"], *ZHANG)
        for name, release in (("allowed", ["--release", "verified_claims", "--release", "id_number"]),
                              ("plain", [])):
            clients[name] = json.loads(check_run(run_yitong(
                ["client", "create", "--name", f"RP {name}", "--redirect-uri", rp, "--grant", "authorization_code",
                 "--scope", "openid profile verified_claims", *release, "--json"], env), "yitong client create"))

    with serve_https(tmp_path_factory.mktemp("assurance-interop"), prepare) as served:
        journeys = {"allowed": ("allowed", "zhang"), "plain": ("plain", "zhang"), "unverified": ("allowed", "wang")}
        runs = {journey: ("assurance.mjs", {"issuer": served.issuer, "client_id": clients[client]["client_id"],
                                            "client_secret": clients[client]["client_secret"], "redirect_uri": rp,
                                            "scope": "openid profile verified_claims", "login": username,
                                            "password": PASSWORD})
                for journey, (client, username) in journeys.items()}
        yield {"issuer": served.issuer, "users": users, "steps": run_journeys(node, runs, served)}


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
