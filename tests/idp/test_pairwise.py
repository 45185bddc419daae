"""Pairwise subject identifiers (OIDC Core §8.1) per client, through the real app and the real CLI,
on both storage backends: ID tokens and userinfo carry the per-client sub, access tokens the
stable one (DESIGN.md token contract)."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from idp.oauth.clients import ClientError, build_metadata
from tests.helpers import run_yitong
from tests.idp.support import PASSWORD, REDIRECT, login, make_idp, pkce_pair, through_consent

OTHER_HOST = "http://localhost:9000/callback"


@pytest.fixture
def idp(storage, tmp_path):
    return make_idp(storage, tmp_path)


@pytest.fixture
def alice(idp):
    return idp.accounts.create(username="alice", password=PASSWORD, phone="13800138000")


def claims_of(jwt: str) -> dict:
    body = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def public_client(idp, redirect: str, subject_type: str):
    metadata = build_metadata(redirect_uris=[redirect], grant_types=["authorization_code"], scope="openid profile",
                              token_endpoint_auth_method=None, public=True, subject_type=subject_type)
    return idp.clients.create("Portal", metadata)[0]


def tokens_for(web, client_id: str, redirect: str, **extra) -> dict:
    verifier, challenge = pkce_pair()
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect, "scope": "openid profile",
             "state": "s", "nonce": "n", "code_challenge": challenge, "code_challenge_method": "S256", **extra}
    response = through_consent(web, web.get("/authorize?" + urlencode(query)))
    assert response.status_code == 302 and response.headers["Location"].startswith(redirect), response.headers
    code = parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]
    answer = web.post("/token", data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect,
                                      "code_verifier": verifier, "client_id": client_id})
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def test_discovery_offers_pairwise(idp):
    document = idp.app.test_client().get("/.well-known/openid-configuration").get_json()
    assert document["subject_types_supported"] == ["public", "pairwise"]


def test_pairwise_subs_differ_per_client_are_stable_and_access_tokens_keep_the_real_sub(idp, alice):
    pair_a = public_client(idp, REDIRECT, "pairwise")
    pair_b = public_client(idp, OTHER_HOST, "pairwise")
    plain = public_client(idp, REDIRECT, "public")
    web = idp.app.test_client()
    login(web, "alice")
    a, b, c = (tokens_for(web, cl.client_id, uri) for cl, uri in
               ((pair_a, REDIRECT), (pair_b, OTHER_HOST), (plain, REDIRECT)))
    sub_a, sub_b = claims_of(a["id_token"])["sub"], claims_of(b["id_token"])["sub"]
    assert len({sub_a, sub_b, alice.sub}) == 3 and claims_of(c["id_token"])["sub"] == alice.sub
    for answer in (a, b, c):  # the stable sub in every access token (seal holders are identified by it)
        assert claims_of(answer["access_token"])["sub"] == alice.sub
    info = web.get("/userinfo", headers={"Authorization": f"Bearer {a['access_token']}"}).get_json()
    assert info["sub"] == sub_a
    assert web.get("/userinfo", headers={"Authorization": f"Bearer {c['access_token']}"}).get_json()["sub"] == \
        alice.sub
    # stable: a new sign-in gives the same pairwise sub; the id_token_hint of this client is recognised
    again = idp.app.test_client()
    login(again, "alice")
    assert claims_of(tokens_for(again, pair_a.client_id, REDIRECT)["id_token"])["sub"] == sub_a
    hinted = tokens_for(again, pair_a.client_id, REDIRECT, prompt="none", id_token_hint=a["id_token"])
    assert claims_of(hinted["id_token"])["sub"] == sub_a
    # another person gets another pairwise sub at the same client
    bob = idp.accounts.create(username="bob", password=PASSWORD)
    other = idp.app.test_client()
    login(other, "bob")
    sub_bob = claims_of(tokens_for(other, pair_a.client_id, REDIRECT)["id_token"])["sub"]
    assert sub_bob not in (sub_a, bob.sub)


def test_a_pairwise_client_needs_one_redirect_host():
    with pytest.raises(ClientError, match="one host"):
        build_metadata(redirect_uris=[REDIRECT, OTHER_HOST], grant_types=["authorization_code"], scope="openid",
                       token_endpoint_auth_method=None, public=True, subject_type="pairwise")
    with pytest.raises(ClientError, match="subject_type"):
        build_metadata(redirect_uris=[REDIRECT], grant_types=["authorization_code"], scope="openid",
                       token_endpoint_auth_method=None, public=True, subject_type="secret")


def test_cli_creates_and_updates_pairwise_clients(idp, alice, storage, yitong_env):
    env = {**yitong_env, **storage.env()}
    made = run_yitong(["client", "create", "--name", "Pairwise portal", "--redirect-uri", REDIRECT, "--public",
                       "--grant", "authorization_code", "--scope", "openid profile", "--subject-type", "pairwise",
                       "--json"], env)
    assert made.returncode == 0, made.stderr
    info = json.loads(made.stdout)
    assert info["subject_type"] == "pairwise"
    web = idp.app.test_client()
    login(web, "alice")
    assert claims_of(tokens_for(web, info["client_id"], REDIRECT)["id_token"])["sub"] != alice.sub
    updated = run_yitong(["client", "update", info["client_id"], "--subject-type", "public", "--json"], env)
    assert updated.returncode == 0, updated.stderr
    assert "subject_type" not in json.loads(updated.stdout)
    assert claims_of(tokens_for(web, info["client_id"], REDIRECT)["id_token"])["sub"] == alice.sub
    bad = run_yitong(["client", "update", info["client_id"], "--subject-type", "sometimes"], env)
    assert bad.returncode == 2
