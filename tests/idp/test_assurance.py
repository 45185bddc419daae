"""OpenID Connect for Identity Assurance 1.0: discovery metadata, verified_claims in ID tokens and
userinfo, and the per-client release policy — through the real app on each storage backend."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from idp.assurance import ID_NUMBER_CLAIM
from keys import jose
from tests.baselib.server import ZHANG
from tests.idp.support import PASSWORD, make_idp, pkce_pair
from tests.idp.test_oidc import exchange, jwks, sign_in_and_get_code

SCOPE = "openid profile verified_claims"
EVIDENCE = {"type": "electronic_record", "check_details": [{"check_method": "data", "organization": "baselib",
                                                            "txn": "ref-1"}],
            "time": "2026-11-01T08:00:00+00:00", "record": {"type": "population_register",
                                                          "source": {"name": "population"}}}


@pytest.fixture
def idp(storage, tmp_path):
    return make_idp(storage, tmp_path)


@pytest.fixture
def alice(idp):
    """A person whose real name was verified (as /account/realname records it) at loa:2."""
    user = idp.accounts.create(username="alice", password=PASSWORD)
    identities = idp.app.extensions["yitong.idp"].identities
    identities.bind(user.sub, id_type="resident", name=ZHANG[0], id_number=ZHANG[1],
                    trust_framework="cn_population_library", evidence=EVIDENCE,
                    verified_at=datetime(2026, 11, 1, 8, 0, tzinfo=UTC))
    idp.accounts.raise_level(user.sub, "urn:yitong:loa:2")
    return user


def tokens_for(idp, client, scope=SCOPE, secret=None, **extra):
    web = idp.app.test_client()
    verifier, challenge = pkce_pair()
    params = sign_in_and_get_code(idp, web, client.client_id, challenge, scope=scope, **extra)
    response = exchange(web, client.client_id, params["code"], verifier, secret=secret)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    _header, id_token = jose.verify_jwt(body["id_token"], jwks(web), algorithms=["ES256"])
    info = web.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert info.status_code == 200
    return body, id_token, info.get_json()


def test_discovery_lists_the_oidc4ia_metadata(idp):
    document = idp.app.test_client().get("/.well-known/openid-configuration").get_json()
    assert document["verified_claims_supported"] is True
    assert "cn_population_library" in document["trust_frameworks_supported"]
    assert set(document["evidence_supported"]) == {"electronic_record", "vouch"}
    assert document["claims_in_verified_claims_supported"] == ["name", ID_NUMBER_CLAIM]
    assert {"acr", "verified_claims"} <= set(document["claims_supported"])
    assert "verified_claims" in document["scopes_supported"]
    assert document["claims_parameter_supported"] is True
    assert document["acr_values_supported"] == [f"urn:yitong:loa:{n}" for n in (1, 2, 3, 4)]


def test_a_client_allowed_both_gets_verified_claims_with_the_id_number_in_id_token_and_userinfo(idp, alice):
    client, secret = idp.client(release=["verified_claims", "id_number"], scope="openid profile")
    assert "verified_claims" in client.scope.split()  # the release brings its scope with it
    body, id_token, info = tokens_for(idp, client, secret=secret)
    assert "verified_claims" in body["scope"].split()
    expected = {"verification": {"trust_framework": "cn_population_library", "time": "2026-11-01T08:00:00+00:00",
                                 "evidence": [EVIDENCE]},
                "claims": {"name": ZHANG[0], ID_NUMBER_CLAIM: ZHANG[1]}}
    assert id_token["verified_claims"] == expected
    assert info["verified_claims"] == expected
    assert id_token["acr"] == "urn:yitong:loa:2"


def test_a_client_allowed_verified_claims_only_gets_the_name_but_never_the_id_number(idp, alice):
    client, secret = idp.client(release=["verified_claims"])
    _body, id_token, info = tokens_for(idp, client, secret=secret)
    for claims in (id_token, info):
        assert claims["verified_claims"]["claims"] == {"name": ZHANG[0]}
        assert ZHANG[1] not in json.dumps(claims)


def test_a_client_without_the_release_asking_the_scope_gets_nothing_but_still_signs_in(idp, alice):
    client, secret = idp.client(scope="openid profile")
    _body, id_token, info = tokens_for(idp, client, secret=secret)
    assert id_token["sub"] == info["sub"] == alice.sub
    assert "verified_claims" not in id_token and "verified_claims" not in info


def test_registering_the_scope_without_the_operator_release_releases_nothing(idp, alice):
    """A client that merely lists the scope (e.g. through dynamic registration) is not allowed the claims."""
    client, secret = idp.client(scope="openid profile verified_claims")
    body, id_token, info = tokens_for(idp, client, secret=secret)
    assert "verified_claims" in body["scope"].split()
    assert "verified_claims" not in id_token and "verified_claims" not in info
    assert ZHANG[1] not in json.dumps(id_token) + json.dumps(info)


def test_without_the_scope_an_allowed_client_gets_no_verified_claims(idp, alice):
    client, secret = idp.client(release=["verified_claims", "id_number"])
    _body, id_token, info = tokens_for(idp, client, scope="openid profile", secret=secret)
    assert "verified_claims" not in id_token and "verified_claims" not in info


def test_a_person_without_a_verified_identity_gets_no_verified_claims(idp):
    idp.accounts.create(username="alice", password=PASSWORD)
    client, secret = idp.client(release=["verified_claims", "id_number"])
    _body, id_token, info = tokens_for(idp, client, secret=secret)
    assert "verified_claims" not in id_token and "verified_claims" not in info
    assert id_token["acr"] == "urn:yitong:loa:1"


# -- the claims parameter (OIDC Core §5.5, OIDC4IA §6) ------------------------------------------------------------
def claims_param(**targets) -> str:
    return json.dumps({target: {"verified_claims": request} for target, request in targets.items()})


def test_the_claims_parameter_releases_only_the_named_claims_to_the_named_target(idp, alice):
    client, secret = idp.client(release=["verified_claims", "id_number"])
    request = {"verification": {"trust_framework": None}, "claims": {"name": None}}
    _body, id_token, info = tokens_for(idp, client, scope="openid", secret=secret,
                                       claims=claims_param(userinfo=request))
    assert info["verified_claims"] == {"verification": {"trust_framework": "cn_population_library"},
                                       "claims": {"name": ZHANG[0]}}
    assert "verified_claims" not in id_token  # asked for userinfo only, and not by scope
    request = {"verification": {"trust_framework": {"value": "cn_population_library"}, "time": None,
                                "evidence": None},
               "claims": {ID_NUMBER_CLAIM: {"essential": True, "purpose": "办理社保"}, "birthdate": None}}
    _body, id_token, info = tokens_for(idp, client, scope="openid", secret=secret,
                                       claims=claims_param(id_token=request))
    assert id_token["verified_claims"] == {
        "verification": {"trust_framework": "cn_population_library", "time": "2026-11-01T08:00:00+00:00",
                         "evidence": [EVIDENCE]},
        "claims": {ID_NUMBER_CLAIM: ZHANG[1]}}
    assert "verified_claims" not in info


def test_the_claims_parameter_cannot_get_round_the_release_policy_or_a_trust_framework_constraint(idp, alice):
    wanted = {"verification": {"trust_framework": None}, "claims": {"name": None, ID_NUMBER_CLAIM: None}}
    name_only, secret = idp.client(release=["verified_claims"])
    _body, id_token, info = tokens_for(idp, name_only, scope="openid", secret=secret,
                                       claims=claims_param(id_token=wanted, userinfo=wanted))
    assert id_token["verified_claims"]["claims"] == info["verified_claims"]["claims"] == {"name": ZHANG[0]}
    plain, secret = idp.client()
    _body, id_token, info = tokens_for(idp, plain, scope="openid", secret=secret,
                                       claims=claims_param(id_token=wanted, userinfo=wanted))
    assert "verified_claims" not in id_token and "verified_claims" not in info
    allowed, secret = idp.client(release=["verified_claims", "id_number"])
    other = {"verification": {"trust_framework": {"values": ["eidas"]}}, "claims": {"name": None}}
    nothing_we_have = {"verification": {"trust_framework": None}, "claims": {"birthdate": None}}
    _body, id_token, info = tokens_for(idp, allowed, scope="openid", secret=secret,
                                       claims=claims_param(id_token=other, userinfo=nothing_we_have))
    assert "verified_claims" not in id_token and "verified_claims" not in info


def test_a_malformed_claims_parameter_requests_nothing_and_breaks_nothing(idp, alice):
    client, secret = idp.client(release=["verified_claims", "id_number"])
    for raw in ("{not json", "[1, 2]", json.dumps({"userinfo": {"verified_claims": "all"}}),
                claims_param(userinfo=[{"claims": []}, {"claims": {"name": None}}])):
        _body, id_token, info = tokens_for(idp, client, scope="openid", secret=secret, claims=raw)
        assert "verified_claims" not in id_token
        if raw.startswith('{"userinfo": {"verified_claims": [{'):  # an array: the first request we can answer
            assert info["verified_claims"]["claims"] == {"name": ZHANG[0]}
        else:
            assert "verified_claims" not in info


def test_the_cli_sets_checks_keeps_and_clears_the_release_policy(idp, tmp_path, storage):
    from yitong.cli import cli

    env = {"YITONG_HOME": str(tmp_path / "home"), **storage.env()}
    runner = CliRunner()
    base = ["client", "create", "--name", "Tax bureau", "--redirect-uri", "https://tax.example.gov.cn/cb",
            "--grant", "authorization_code", "--scope", "openid profile", "--json"]
    bad = runner.invoke(cli, [*base, "--release", "id_number"], env=env)
    assert bad.exit_code == 2 and "add --release verified_claims" in bad.output
    made = runner.invoke(cli, [*base, "--release", "verified_claims", "--release", "id_number"], env=env)
    assert made.exit_code == 0, made.output
    info = json.loads(made.stdout)
    assert info["yitong_release"] == ["verified_claims", "id_number"]
    assert info["scope"].split() == ["openid", "profile", "verified_claims"]
    client_id = info["client_id"]
    kept = runner.invoke(cli, ["client", "update", client_id, "--name", "Tax", "--json"], env=env)
    assert kept.exit_code == 0 and json.loads(kept.stdout)["yitong_release"] == ["verified_claims", "id_number"]
    cleared = runner.invoke(cli, ["client", "update", client_id, "--release", "none", "--json"], env=env)
    assert cleared.exit_code == 0 and "yitong_release" not in json.loads(cleared.stdout)
    assert idp.clients.get(client_id).metadata.get("yitong_release") is None
