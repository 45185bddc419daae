"""Interop: the certified relying party openid-client v6 (Node) against the real `yitong serve` over HTTPS.

The provider runs once for the module with a fresh home, a TLS certificate from its own
p256-issuing CA (Node trusts only the P-256 root, through NODE_EXTRA_CA_CERTS), and users and
clients made with the CLI (one user and one client per journey, so that journeys running at the
same time share no session, grant or login-throttle counter). Node scripts (code_flow.mjs,
service.mjs, advanced.mjs) drive openid-client through whole journeys and print one JSON line of step
results; the tests below assert on those steps.
openid-client does discovery, builds the authorization URL (PKCE S256, state, nonce) and checks
the callback (RFC 9207 iss, state, the ID token's signature and claims); the scripts' small
cookie-keeping fetch loop plays the browser on /authorize, the login form and the consent page.

Not covered yet (the provider lacks them, or they are not driven through openid-client yet):

- TODO: consent beyond "Allow" on first use (the browser loop allows; deny -> access_denied,
  prompt=consent, consent_required for prompt=none are not checked through openid-client yet)
- TODO: back-channel logout (logout token delivered to ``backchannel_logout_uri``)
- TODO: TOTP second factor at login (/login/mfa; amr ["pwd", "otp"] in the ID token)
- TODO: ID tokens signed with SM2 (openid-client has no SM2; a client registered with
  ``--id-token-alg SM2`` needs an RP with SM2 support)
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.helpers import (
    check_run,
    free_port,
    npm_ci_once,
    require_tool,
    run_yitong,
)
from tests.interop.harness import HERE, Served, run_journeys, serve_https

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("interop-openid-client")]

PASSWORD = "Tianjin-2026-correct"

# Journeys of code_flow.mjs, one per way a relying party authenticates at the token endpoint.
CODE_FLOW_CLIENTS = ["secret_basic", "secret_post", "public"]
AUTH_OF = {"secret_basic": "basic", "secret_post": "post", "public": "none", "pairwise": "basic"}
USER_OF = {"secret_basic": "alice", "secret_post": "bob", "public": "carol", "advanced": "dave", "org": "erin",
           "pairwise": "frank"}
# The org journey: erin is the real-name legal representative of this organisation and acts for it.
ORG = {"uscc": "91110000600037341L", "name": "北京一通科技有限公司"}


@dataclass
class Provider:
    issuer: str
    ca_file: Path
    rp_base: str
    clients: dict[str, dict]
    log: Path
    private_jwk: dict  # the private_key_jwt client's signing key (public half registered)
    subs: dict[str, str]  # username -> the stable sub


# -- fixtures -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def node() -> str:
    """`node`, with openid-client installed from package-lock.json (`npm ci`) when node_modules is missing."""
    node = require_tool("node")
    npm_ci_once(HERE, HERE / "node_modules" / "openid-client" / "package.json")
    return node


@pytest.fixture(scope="module")
def provider(tmp_path_factory) -> Provider:
    tmp = tmp_path_factory.mktemp("interop")
    made = {}

    def prepare(env: dict, _ca_file: Path) -> None:
        subs = {}
        for username in USER_OF.values():
            subs[username] = json.loads(check_run(run_yitong(["user", "create", "--username", username,
                                                              "--password-stdin", "--json"], env,
                                                             input=f"{PASSWORD}\n".encode()),
                                                  f"yitong user create ({username})"))["sub"]
        rp_base = f"http://127.0.0.1:{free_port()}"  # nothing listens: the browser stops at the redirect
        clients = {}
        for name in [*CODE_FLOW_CLIENTS, "pairwise"]:
            args = ["client", "create", "--name", f"RP {name}", "--redirect-uri", f"{rp_base}/cb",
                    "--post-logout-redirect-uri", f"{rp_base}/bye", "--grant", "authorization_code",
                    "--grant", "refresh_token", "--scope", "openid profile offline_access", "--json"]
            if name == "public":
                args.append("--public")
            if name == "pairwise":  # OIDC Core §8.1: a per-client sub in ID tokens and userinfo
                args += ["--subject-type", "pairwise"]
            clients[name] = json.loads(check_run(run_yitong(args, env), f"yitong client create ({name})"))
        private_jwk = _es256_jwk()
        jwks_file = tmp / "advanced-jwks.json"
        jwks_file.write_text(json.dumps({"keys": [{k: v for k, v in private_jwk.items() if k != "d"}]}))
        clients["advanced"] = json.loads(check_run(run_yitong(
            ["client", "create", "--name", "RP advanced", "--redirect-uri", f"{rp_base}/cb", "--grant",
             "authorization_code", "--grant", "refresh_token", "--scope", "openid profile offline_access",
             "--token-endpoint-auth-method", "private_key_jwt", "--jwks-file", str(jwks_file), "--json"], env),
            "yitong client create (advanced)"))
        clients["org"] = json.loads(check_run(run_yitong(
            ["client", "create", "--name", "RP org", "--redirect-uri", f"{rp_base}/cb", "--post-logout-redirect-uri",
             f"{rp_base}/bye", "--grant", "authorization_code", "--grant", "refresh_token", "--scope",
             "openid profile org offline_access", "--json"], env), "yitong client create (org)"))
        _erin_represents_org(env)
        clients["service"] = json.loads(check_run(run_yitong(
            ["client", "create", "--name", "Seal service", "--grant", "client_credentials", "--scope", "seal:read",
             "--json"], env), "yitong client create (service)"))
        made.update(rp_base=rp_base, clients=clients, private_jwk=private_jwk, subs=subs)

    with serve_https(tmp, prepare) as served:
        yield Provider(served.issuer, served.ca_file, made["rp_base"], made["clients"], served.log,
                       made["private_jwk"], made["subs"])


def _erin_represents_org(env: dict) -> None:
    """erin's real name verified (loa:2) and ORG registered with her as legal representative, through
    the IdP's own services on the provider's home (the base-library pages are tested in tests/idp)."""
    from idp.accounts.store import Accounts
    from idp.identity import Identities, Organisations
    from yitong.home import Home
    from yitong.settings import Settings

    home = Home(Settings.from_env(env))
    try:
        accounts = Accounts(home.engine)
        erin = accounts.authenticate("erin", PASSWORD)
        assert erin is not None, "yitong user create made erin"
        Identities(home.engine, home.keystore()).bind(erin.sub, id_type="resident", name="张三",
                                                      id_number="11010519491231002X", trust_framework="test",
                                                      evidence={})
        accounts.set_level(erin.sub, "urn:yitong:loa:2")
        Organisations(home.engine).register(uscc=ORG["uscc"], name=ORG["name"], legal_representative_sub=erin.sub,
                                            acr="urn:yitong:loa:2", uscc_warnings=[], trust_framework="test",
                                            evidence={})
    finally:
        home.engine.dispose()


def _es256_jwk() -> dict:
    """A fresh P-256 key as a private JWK with a kid (the RP's private_key_jwt signing key)."""
    import base64

    from cryptography.hazmat.primitives.asymmetric import ec

    def b64(number: int) -> str:
        return base64.urlsafe_b64encode(number.to_bytes(32, "big")).rstrip(b"=").decode()

    key = ec.generate_private_key(ec.SECP256R1())
    numbers = key.private_numbers()
    return {"kty": "EC", "crv": "P-256", "kid": "rp-key-1", "alg": "ES256", "x": b64(numbers.public_numbers.x),
            "y": b64(numbers.public_numbers.y), "d": b64(numbers.private_value)}


def _params(provider: Provider, name: str) -> dict:
    registered = provider.clients[name]
    if name == "advanced":
        return {"issuer": provider.issuer, "client_id": registered["client_id"], "private_jwk": provider.private_jwk,
                "redirect_uri": f"{provider.rp_base}/cb", "scope": "openid profile offline_access",
                "login": USER_OF[name], "password": PASSWORD}
    if name == "service":
        return {"issuer": provider.issuer, "client_id": registered["client_id"],
                "client_secret": registered["client_secret"], "scope": "seal:read"}
    confidential = name != "public"
    introspector = registered if confidential else provider.clients["service"]
    return {
        "issuer": provider.issuer, "client_id": registered["client_id"],
        "client_secret": registered.get("client_secret"), "auth": AUTH_OF[name],
        "redirect_uri": f"{provider.rp_base}/cb", "post_logout_redirect_uri": f"{provider.rp_base}/bye",
        "scope": "openid profile offline_access", "login": USER_OF[name], "password": PASSWORD,
        "introspector": {"client_id": introspector["client_id"], "client_secret": introspector["client_secret"],
                         "auth": "basic"},
    }


@pytest.fixture(scope="module")
def journeys(node, provider) -> dict[str, dict]:
    """Run every journey at once (separate browsers, clients and grants); {journey: steps}."""
    runs = {name: ("code_flow.mjs", _params(provider, name)) for name in [*CODE_FLOW_CLIENTS, "pairwise"]}
    runs |= {f"service_{auth}": ("service.mjs", {**_params(provider, "service"), "auth": auth})
             for auth in ("basic", "post")}
    runs["advanced"] = ("advanced.mjs", _params(provider, "advanced"))
    org = provider.clients["org"]
    runs["org"] = ("code_flow.mjs", {**_params(provider, "secret_basic"), "client_id": org["client_id"],
                                     "client_secret": org["client_secret"], "login": USER_OF["org"],
                                     "scope": "openid profile org offline_access", "org": ORG["uscc"],
                                     "introspector": {"client_id": org["client_id"],
                                                      "client_secret": org["client_secret"], "auth": "basic"}})
    return run_journeys(node, runs, Served(provider.issuer, {}, provider.ca_file, provider.log))


# -- helpers for the assertions -------------------------------------------------------------------------------
def passed(steps: dict, name: str):
    """The value of a step that must have succeeded (else the error and the HTTP exchanges)."""
    result = steps[name]
    assert result["ok"], f"step {name} failed:\n{json.dumps(result, indent=1, ensure_ascii=False)}"
    return result["value"]


def refused(steps: dict, name: str) -> dict:
    """The error of a step that must have failed."""
    result = steps[name]
    assert not result["ok"], f"step {name} should have failed:\n{json.dumps(result, indent=1, ensure_ascii=False)}"
    return result["error"]


def oauth_error(error: dict) -> str | None:
    """The OAuth error code, from the JSON body or, for 401s, from the WWW-Authenticate challenge."""
    if "error" in error:
        return error["error"]
    challenges = error.get("cause") if error.get("code") == "OAUTH_WWW_AUTHENTICATE_CHALLENGE" else None
    return challenges[0]["parameters"].get("error") if challenges else None


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


code_flow = pytest.mark.parametrize("journey", CODE_FLOW_CLIENTS)
service = pytest.mark.parametrize("journey", ["service_basic", "service_post"])


# -- discovery ---------------------------------------------------------------------------------------------
def test_discovery_is_accepted_and_advertises_s256_pkce_rfc9207_iss_and_end_session(journeys, provider):
    meta = passed(journeys["secret_basic"], "discovery")
    assert meta["issuer"] == provider.issuer
    assert meta["supports_pkce"] is True
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert meta["end_session_endpoint"] == f"{provider.issuer}/logout"
    assert "ES256" in meta["id_token_signing_alg_values_supported"]


# -- authorization code flow --------------------------------------------------------------------------------
@code_flow
def test_first_authorization_signs_in_asks_consent_then_redirects_with_code_state_and_iss(journeys, journey,
                                                                                          provider):
    login = passed(journeys[journey], "login")
    assert login["saw_login_form"] is True and login["saw_consent"] is True
    assert login["chain"] == ["GET /authorize -> 302", "GET /login -> 200", "POST /login -> 302",
                              "GET /authorize -> 200", "POST /consent -> 302", "GET /authorize -> 302"]
    assert login["authorization_request"]["code_challenge_method"] == "S256"
    params = login["callback_params"]
    assert params == {"code": "<code>", "state": login["expected_state"], "iss": provider.issuer}


@code_flow
def test_code_grant_passes_openid_client_validation_of_iss_state_pkce_and_id_token(journeys, journey):
    tokens = passed(journeys[journey], "code_grant")
    assert tokens["token_type"].lower() == "bearer"
    assert tokens["has_id_token"] and tokens["has_refresh_token"]
    assert set(tokens["scope"].split()) == {"openid", "profile", "offline_access"}
    assert 0 < tokens["expires_in"] <= 300
    assert tokens["id_token_header"]["alg"] == "ES256" and tokens["id_token_header"]["kid"]
    assert tokens["access_token_header"]["typ"] == "at+jwt"


@code_flow
def test_id_token_claims_name_the_issuer_client_nonce_session_and_user(journeys, journey, provider):
    tokens = passed(journeys[journey], "code_grant")
    claims = tokens["claims"]
    assert claims["iss"] == provider.issuer
    assert claims["aud"] == provider.clients[journey]["client_id"]
    assert claims["nonce"] == tokens["expected_nonce"]
    assert claims["sub"] and claims["sid"] and claims["at_hash"]
    assert claims["preferred_username"] == USER_OF[journey]
    assert claims["iat"] <= claims["exp"] and abs(claims["auth_time"] - time.time()) < 300


@code_flow
def test_userinfo_answers_for_the_id_token_subject(journeys, journey):
    steps = journeys[journey]
    info = passed(steps, "userinfo")
    assert info["sub"] == passed(steps, "code_grant")["claims"]["sub"]
    assert info["preferred_username"] == USER_OF[journey]


@code_flow
def test_introspection_reports_the_access_token_active_with_client_subject_and_scope(journeys, journey, provider):
    """Confidential clients introspect their own tokens; the public client's are introspected by the service client."""
    steps = journeys[journey]
    info = passed(steps, "introspect_access")
    assert info["active"] is True
    assert info["client_id"] == provider.clients[journey]["client_id"]
    assert info["sub"] == passed(steps, "code_grant")["claims"]["sub"]
    assert set(info["scope"].split()) == {"openid", "profile", "offline_access"}
    assert info["iss"] == provider.issuer


@code_flow
def test_introspection_reports_an_unused_refresh_token_active(journeys, journey, provider):
    info = passed(journeys[journey], "introspect_refresh")
    assert info["active"] is True
    assert info["client_id"] == provider.clients[journey]["client_id"]


@pytest.mark.parametrize("journey", ["secret_basic", "secret_post"])
def test_a_confidential_client_may_introspect_its_own_tokens(journeys, journey):
    assert passed(journeys[journey], "introspect_self")["active"] is True


def test_a_public_client_may_not_introspect(journeys):
    error = refused(journeys["public"], "introspect_self")
    assert error["status"] == 401 and oauth_error(error) == "invalid_client"


# -- refresh tokens --------------------------------------------------------------------------------------
@code_flow
def test_refresh_issues_a_new_access_token_and_rotates_the_refresh_token(journeys, journey):
    refreshed = passed(journeys[journey], "refresh")
    assert refreshed["refresh_token_rotated"] is True and refreshed["has_refresh_token"]
    assert refreshed["access_token_changed"] is True
    assert set(refreshed["scope"].split()) == {"openid", "profile", "offline_access"}


@code_flow
def test_a_rotated_refresh_token_is_refused_with_invalid_grant(journeys, journey):
    error = refused(journeys[journey], "refresh_reuse")
    assert error["status"] == 400 and error["error"] == "invalid_grant"


@code_flow
def test_reusing_a_rotated_refresh_token_revokes_the_whole_grant(journeys, journey):
    steps = journeys[journey]
    error = refused(steps, "refresh_after_reuse")  # the successor dies with its leaked predecessor
    assert error["status"] == 400 and error["error"] == "invalid_grant"
    assert passed(steps, "introspect_after_reuse") == {"active": False}


# -- single sign-on and code replay ----------------------------------------------------------------------------
@code_flow
def test_a_second_authorization_in_the_same_browser_skips_login_and_remembered_consent(journeys, journey):
    flow = passed(journeys[journey], "sso_code_grant")
    assert flow["saw_login_form"] is False and flow["saw_consent"] is False
    assert flow["chain"] == ["GET /authorize -> 302"]
    assert flow["has_id_token"]


@code_flow
def test_a_replayed_authorization_code_is_refused_and_revokes_what_it_issued(journeys, journey):
    steps = journeys[journey]
    error = refused(steps, "code_replay")
    assert error["status"] == 400 and error["error"] == "invalid_grant"
    assert passed(steps, "introspect_after_code_replay") == {"active": False}
    assert refused(steps, "refresh_after_code_replay")["error"] == "invalid_grant"


# -- revocation ----------------------------------------------------------------------------------------------
@code_flow
def test_a_revoked_access_token_is_refused_at_userinfo_and_introspected_inactive(journeys, journey):
    steps = journeys[journey]
    assert passed(steps, "revoke_access") == {"revoked": True}
    error = refused(steps, "userinfo_after_revoke")
    assert error["status"] == 401
    assert error["cause"][0]["scheme"] == "bearer" and error["cause"][0]["parameters"]["error"] == "invalid_token"
    assert passed(steps, "introspect_after_revoke") == {"active": False}


@code_flow
def test_a_revoked_refresh_token_can_no_longer_be_used(journeys, journey):
    steps = journeys[journey]
    assert passed(steps, "revoke_refresh") == {"revoked": True}
    assert refused(steps, "refresh_after_revoke")["error"] == "invalid_grant"


# -- prompt, max_age, PKCE ---------------------------------------------------------------------------------------
@code_flow
def test_prompt_login_shows_the_login_form_again_despite_the_sso_session(journeys, journey):
    steps = journeys[journey]
    flow = passed(steps, "prompt_login")
    assert flow["saw_login_form"] is True and flow["saw_consent"] is False  # consent is remembered
    assert flow["chain"] == ["GET /authorize -> 302", "GET /login -> 200", "POST /login -> 302",
                             "GET /authorize -> 302"]
    assert flow["claims"]["sid"] and flow["claims"]["auth_time"] >= passed(steps, "code_grant")["claims"]["auth_time"]


@code_flow
def test_max_age_is_honoured_with_an_auth_time_claim_that_openid_client_checks(journeys, journey):
    flow = passed(journeys[journey], "max_age")
    assert flow["chain"] == ["GET /authorize -> 302"]  # signed in within max_age: no new login
    assert abs(flow["claims"]["auth_time"] - time.time()) < 600


def test_a_public_client_without_pkce_is_refused_with_invalid_request(journeys):
    flow = passed(journeys["public"], "no_pkce")
    assert flow["chain"] == ["GET /authorize -> 302"]
    params = flow["callback_params"]
    assert params["error"] == "invalid_request" and "PKCE" in params["error_description"]
    assert params["state"] == query(flow["request"])["state"] and "code" not in params


# -- RP-initiated logout ----------------------------------------------------------------------------------------
@code_flow
def test_end_session_url_redirects_to_the_registered_post_logout_uri_with_state(journeys, journey, provider):
    logout = passed(journeys[journey], "logout")
    assert logout["request_params"]["client_id"] == provider.clients[journey]["client_id"]
    assert logout["status"] == 302
    assert logout["location"].split("?")[0] == f"{provider.rp_base}/bye"
    assert query(logout["location"]) == {"state": logout["expected_state"]}
    assert logout["sso_cookie_left"] is False


@code_flow
def test_logout_revokes_the_grants_of_the_session(journeys, journey):
    steps = journeys[journey]
    assert refused(steps, "refresh_after_logout")["error"] == "invalid_grant"
    assert refused(steps, "userinfo_after_logout")["status"] == 401


@code_flow
def test_after_logout_prompt_none_redirects_login_required_with_state(journeys, journey, provider):
    flow = passed(journeys[journey], "prompt_none_after_logout")
    assert flow["chain"] == ["GET /authorize -> 302"]
    assert flow["callback"].split("?")[0] == f"{provider.rp_base}/cb"
    params = flow["callback_params"]
    assert params["error"] == "login_required" and params["state"] == query(flow["request"])["state"]
    assert "code" not in params


def test_openid_client_accepts_authorization_error_responses_because_they_carry_iss(journeys, provider):
    for journey in CODE_FLOW_CLIENTS:
        steps = journeys[journey]
        assert passed(steps, "prompt_none_after_logout")["callback_params"].get("iss") == provider.issuer, journey
        error = refused(steps, "prompt_none_via_openid_client")
        assert (error["name"], error.get("error")) == ("AuthorizationResponseError", "login_required"), error
    steps = journeys["public"]
    assert passed(steps, "no_pkce")["callback_params"].get("iss") == provider.issuer
    error = refused(steps, "no_pkce_via_openid_client")
    assert (error["name"], error.get("error")) == ("AuthorizationResponseError", "invalid_request"), error


# -- client credentials (a resource server / service client) ------------------------------------------------------
@service
def test_client_credentials_grant_yields_a_scoped_access_token_and_no_refresh_or_id_token(journeys, journey):
    tokens = passed(journeys[journey], "client_credentials")
    assert tokens["token_type"].lower() == "bearer" and tokens["scope"] == "seal:read"
    assert not tokens["has_refresh_token"] and not tokens["has_id_token"]
    assert tokens["access_token_header"] == {**tokens["access_token_header"], "alg": "ES256", "typ": "at+jwt"}


@service
def test_client_credentials_token_introspects_active_for_the_client_itself(journeys, journey, provider):
    info = passed(journeys[journey], "introspect")
    client_id = provider.clients["service"]["client_id"]
    assert info["active"] is True and info["client_id"] == client_id and info["sub"] == client_id
    assert info["scope"] == "seal:read"


@service
def test_a_revoked_client_credentials_token_introspects_inactive(journeys, journey):
    steps = journeys[journey]
    assert passed(steps, "revoke") == {"revoked": True}
    assert passed(steps, "introspect_after_revoke") == {"active": False}


@service
def test_a_wrong_client_secret_is_refused_with_invalid_client(journeys, journey):
    error = refused(journeys[journey], "wrong_secret")
    assert error["status"] == 401 and oauth_error(error) == "invalid_client"


# -- private_key_jwt, PAR and DPoP (advanced.mjs) ------------------------------------------------------------------
def test_discovery_advertises_what_the_advanced_client_uses(journeys, provider):
    meta = passed(journeys["advanced"], "discovery")
    assert meta["par_endpoint"] == f"{provider.issuer}/par"
    assert "ES256" in meta["dpop_algs"]
    assert "private_key_jwt" in meta["auth_methods"] and "ES256" in meta["auth_signing_algs"]


def test_pushed_authorization_request_leaves_only_client_id_and_request_uri_in_the_url(journeys):
    flow = passed(journeys["advanced"], "par_login")
    params = flow["authorization_url_params"]
    assert set(params) == {"client_id", "request_uri"}
    assert params["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
    assert flow["chain"][0] == "GET /authorize -> 302" and "POST /login -> 302" in flow["chain"]


def test_code_grant_with_private_key_jwt_and_dpop_yields_a_dpop_bound_access_token(journeys, provider):
    tokens = passed(journeys["advanced"], "dpop_code_grant")
    assert tokens["token_type"].lower() == "dpop"
    assert tokens["access_token_cnf"] and len(tokens["access_token_cnf"]["jkt"]) == 43
    assert tokens["claims"]["aud"] == provider.clients["advanced"]["client_id"]


def test_userinfo_accepts_the_dpop_token_only_with_a_proof_from_the_bound_key(journeys):
    steps = journeys["advanced"]
    assert passed(steps, "dpop_userinfo")["preferred_username"] == "dave"
    assert refused(steps, "dpop_userinfo_other_key")["status"] == 401
    assert refused(steps, "bearer_userinfo_with_dpop_token")["status"] == 401


def test_a_dpop_bound_refresh_token_refreshes_only_with_the_bound_key(journeys):
    steps = journeys["advanced"]
    assert refused(steps, "dpop_refresh_other_key")["error"] == "invalid_grant"
    refreshed = passed(steps, "dpop_refresh")  # the refused attempt did not use the token up
    assert refreshed["token_type"].lower() == "dpop" and refreshed["rotated"] is True


# -- acting for an organisation (scope org) ------------------------------------------------------------------
def test_the_org_claim_reaches_openid_client_in_the_id_token_userinfo_and_introspection(journeys):
    steps = journeys["org"]
    login = passed(steps, "login")
    assert login["saw_org_chooser"] is True
    assert login["chain"] == ["GET /authorize -> 302", "GET /login -> 200", "POST /login -> 302",
                              "GET /authorize -> 200", "POST /consent -> 302", "GET /authorize -> 200",
                              "POST /authorize/organisation -> 302", "GET /authorize -> 302"]
    expected = {**ORG, "roles": ["legal_representative"], "acting_as": True, "acr": "urn:yitong:loa:2"}
    granted = passed(steps, "code_grant")
    assert granted["claims"]["org"] == expected  # an ID token openid-client validated
    assert "org" in granted["scope"].split()
    assert passed(steps, "userinfo")["org"] == expected
    assert passed(steps, "introspect_access")["org"] == expected


# -- pairwise subjects (OIDC Core §8.1) -------------------------------------------------------------------------
def test_a_pairwise_client_gets_a_per_client_sub_that_openid_client_accepts_and_tokens_keep_the_stable_one(
        journeys, provider):
    steps = journeys["pairwise"]
    pairwise = passed(steps, "code_grant")["claims"]["sub"]  # the ID token passed openid-client's checks
    stable = provider.subs["frank"]
    assert pairwise != stable and len(pairwise) >= 40
    assert passed(steps, "userinfo")["sub"] == pairwise  # openid-client checks userinfo sub == ID token sub
    assert passed(steps, "introspect_access")["sub"] == stable  # access tokens: the stable sub (token contract)
    for other in CODE_FLOW_CLIENTS:  # public-subject clients see the stable subs
        assert passed(journeys[other], "code_grant")["claims"]["sub"] == provider.subs[USER_OF[other]]
