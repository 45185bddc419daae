"""Dynamic client registration (RFC 7591/7592) grants only what any portal may take without an
operator (idp/oauth/registration_policy.py): issue 12 item 1, where registering with ``yitong:admin``
led to rewriting another portal's redirect URIs through the admin API."""

from __future__ import annotations

import pytest

from idp.oauth.clients import build_metadata
from idp.oauth.registration_policy import REGISTRATION_TOKEN_KEY, SELF_SERVICE_SCOPES
from tests.idp.support import PASSWORD, REDIRECT, authorize_url, code_from, login, make_idp, pkce_pair, through_consent
from yitong.console import CONSOLE_CLIENT_ID
from yitong.seal_idp import SEAL_CLIENT_ID
from yitong.wallet import WALLET_CLIENT_ID

INITIAL = "i" * 40
REGISTER = {"Authorization": f"Bearer {INITIAL}"}
PORTAL = {"client_name": "Self-registered portal", "redirect_uris": [REDIRECT],
          "grant_types": ["authorization_code", "refresh_token"], "scope": "openid profile"}
# Every scope an operator must approve (seal/api.py, idp/oauth/routes.py, the licence service), and
# scopes nobody defined: unknown is privileged.
PRIVILEGED = ["yitong:admin", "seal:read", "seal:sign", "seal:admin", "licence:issue", "licence:read",
              "introspect", "made-up-scope"]


@pytest.fixture
def idp(storage, tmp_path):
    made = make_idp(storage, tmp_path)
    made.app.extensions["yitong.idp"].dcr_initial_token = INITIAL
    return made


def register(web, **overrides):
    return web.post("/register", json={**PORTAL, **overrides}, headers=REGISTER)


def client_count(idp) -> int:
    """Clients other than those the home makes for itself (the seal API's introspection client, the
    operator console and the licence wallet)."""
    own = {SEAL_CLIENT_ID, CONSOLE_CLIENT_ID, WALLET_CLIENT_ID}
    return len([c for c in idp.clients.list() if c.client_id not in own])


@pytest.mark.parametrize("scope", PRIVILEGED)
def test_registration_refuses_every_privileged_scope(idp, scope):
    web = idp.app.test_client()
    refused = register(web, scope=f"openid {scope}")
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "invalid_client_metadata"
    assert scope in refused.get_json()["error_description"]
    assert client_count(idp) == 0


@pytest.mark.parametrize("scope", PRIVILEGED)
def test_a_registered_client_cannot_upgrade_itself_to_a_privileged_scope(idp, scope):
    web = idp.app.test_client()
    info = register(web).get_json()
    manage = {"Authorization": f"Bearer {info['registration_access_token']}"}
    upgraded = web.put(f"/register/{info['client_id']}", headers=manage,
                       json={**PORTAL, "client_id": info["client_id"], "scope": f"openid {scope}"})
    assert upgraded.status_code == 400 and upgraded.get_json()["error"] == "invalid_client_metadata"
    assert web.get(f"/register/{info['client_id']}", headers=manage).get_json()["scope"] == "openid profile"
    assert idp.clients.get(info["client_id"]).scope == "openid profile"


def test_every_self_service_scope_registers(idp):
    made = register(idp.app.test_client(), scope=" ".join(sorted(SELF_SERVICE_SCOPES)))
    assert made.status_code == 201, made.get_json()
    assert set(made.get_json()["scope"].split()) == SELF_SERVICE_SCOPES


def test_registration_refuses_client_credentials_even_with_self_service_scopes(idp):
    web = idp.app.test_client()
    refused = register(web, grant_types=["client_credentials"], redirect_uris=[], scope="openid")
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_client_metadata"
    assert "client_credentials" in refused.get_json()["error_description"]
    info = register(web).get_json()
    manage = {"Authorization": f"Bearer {info['registration_access_token']}"}
    upgraded = web.put(f"/register/{info['client_id']}", headers=manage,
                       json={**PORTAL, "client_id": info["client_id"],
                             "grant_types": ["authorization_code", "client_credentials"]})
    assert upgraded.status_code == 400 and upgraded.get_json()["error"] == "invalid_client_metadata"
    assert client_count(idp) == 1


def test_the_registration_attack_never_reaches_the_admin_api(idp):
    """The probe's attack end to end: register with yitong:admin, get a yitong:admin token, PATCH a
    portal's redirect URIs. Every way to a yitong:admin token from a registration is closed."""
    portal, _ = idp.client()
    idp.accounts.create(username="alice", password=PASSWORD)
    web = idp.app.test_client()
    attack = register(web, scope="yitong:admin seal:sign openid", grant_types=["client_credentials"], redirect_uris=[])
    assert attack.status_code == 400 and attack.get_json()["error"] == "invalid_client_metadata"

    info = register(web).get_json()  # an ordinary self-registered portal ...
    secret = {"client_id": info["client_id"], "client_secret": info["client_secret"]}
    # ... cannot take client credentials,
    own = web.post("/token", data={"grant_type": "client_credentials", "scope": "yitong:admin", **secret})
    assert own.status_code == 400 and own.get_json()["error"] == "unauthorized_client"
    # ... nor ask a signed-in person for the scope (it is dropped, never granted),
    login(web, "alice")
    verifier, challenge = pkce_pair()
    code = code_from(through_consent(web, web.get(authorize_url(info["client_id"], challenge,
                                                                scope="openid yitong:admin"))))["code"]
    issued = web.post("/token", data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                                       "code_verifier": verifier, **secret}).get_json()
    assert issued["scope"] == "openid"
    # ... so the admin API stays shut and the portal keeps its redirect URIs.
    patched = web.patch(f"/admin/api/v1/clients/{portal.client_id}",
                        headers={"Authorization": f"Bearer {issued['access_token']}"},
                        json={"redirect_uris": [REDIRECT, "https://evil.example/steal"]})
    assert patched.status_code == 403
    assert idp.clients.get(portal.client_id).redirect_uris == [REDIRECT]


def test_a_client_registered_before_the_rules_is_never_granted_its_privileged_scope(idp):
    """A row made by RFC 7591 while registration still granted anything keeps its metadata, but
    tokens never carry what registration may not grant."""
    metadata = build_metadata(redirect_uris=[], grant_types=["client_credentials"], scope="openid yitong:admin",
                              token_endpoint_auth_method=None, public=False)
    legacy, secret = idp.clients.create("Registered in the old days", {**metadata, REGISTRATION_TOKEN_KEY: "00"})
    web = idp.app.test_client()
    token = web.post("/token", data={"grant_type": "client_credentials", "scope": "yitong:admin",
                                     "client_id": legacy.client_id, "client_secret": secret}).get_json()
    assert "yitong:admin" not in token["scope"].split()
    listed = web.get("/admin/api/v1/clients", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert listed.status_code == 403
    # An operator's own client with the same metadata is granted it (operators approve scopes).
    operator, operator_secret = idp.clients.create("Operator tooling", metadata)
    granted = web.post("/token", data={"grant_type": "client_credentials", "scope": "yitong:admin",
                                       "client_id": operator.client_id, "client_secret": operator_secret}).get_json()
    assert granted["scope"] == "yitong:admin"
