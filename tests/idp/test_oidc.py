"""The OpenID Connect provider through the real app on each storage backend."""

from __future__ import annotations

import base64
import json

import pytest

from idp.audit import Audit
from idp.operators import Operators
from keys import jose
from tests.idp.support import (
    ISSUER,
    PASSWORD,
    REDIRECT,
    BackchannelReceiver,
    authorize_url,
    code_from,
    confirm_logout,
    login,
    make_idp,
    pkce_pair,
    through_consent,
)


@pytest.fixture
def idp(storage, tmp_path):
    return make_idp(storage, tmp_path)


@pytest.fixture
def alice(idp):
    return idp.accounts.create(username="alice", password=PASSWORD, phone="13800138000", name="张三")


def sign_in_and_get_code(idp, web, client_id, challenge, **params):
    first = web.get(authorize_url(client_id, challenge, **params))
    assert first.status_code == 302 and first.headers["Location"].startswith("/login?")
    back = login(web, "alice", return_to=authorize_url(client_id, challenge, **params))
    assert back.status_code == 302
    return code_from(through_consent(web, web.get(back.headers["Location"])))


def exchange(web, client_id, code, verifier, secret=None):
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier}
    if secret:
        form.update(client_id=client_id, client_secret=secret)
    else:
        form["client_id"] = client_id
    return web.post("/token", data=form)


def jwks(web):
    return web.get("/jwks.json").get_json()["keys"] + web.get("/jwks-sm2.json").get_json()["keys"]


def test_discovery_is_complete_and_names_our_issuer(idp):
    document = idp.app.test_client().get("/.well-known/openid-configuration").get_json()
    assert document["issuer"] == ISSUER
    for name in (
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "introspection_endpoint",
        "revocation_endpoint",
        "end_session_endpoint",
    ):
        assert document[name].startswith(ISSUER + "/")
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert "SM2" in document["id_token_signing_alg_values_supported"]


def test_jwks_publishes_es256_keys_and_sm2_keys_apart_with_a_cache_lifetime(idp):
    web = idp.app.test_client()
    response = web.get("/jwks.json")
    assert "max-age=" in response.headers["Cache-Control"]
    assert [k["alg"] for k in response.get_json()["keys"]] == ["ES256"]
    assert [k["crv"] for k in web.get("/jwks-sm2.json").get_json()["keys"]] == ["SM2"]


def test_code_flow_with_pkce_gives_verifiable_tokens(idp, alice):
    client, _ = idp.client(public=True)
    web = idp.app.test_client()
    verifier, challenge = pkce_pair()
    params = sign_in_and_get_code(idp, web, client.client_id, challenge)
    assert params["state"] == "st-1" and params["iss"] == ISSUER  # RFC 9207
    tokens = exchange(web, client.client_id, params["code"], verifier).get_json()
    header, id_token = jose.verify_jwt(tokens["id_token"], jwks(web), algorithms=["ES256"])
    assert header["alg"] == "ES256"
    assert (id_token["iss"], id_token["aud"], id_token["sub"], id_token["nonce"]) == (
        ISSUER,
        client.client_id,
        alice.sub,
        "n-1",
    )
    assert id_token["sid"] and id_token["at_hash"] and id_token["auth_time"]
    at_header, access = jose.verify_jwt(tokens["access_token"], jwks(web), algorithms=["ES256"])
    assert at_header["typ"] == "at+jwt"
    assert (access["sub"], access["client_id"], access["acr"]) == (alice.sub, client.client_id, "urn:yitong:loa:1")
    assert access["exp"] - access["iat"] <= 300
    info = web.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).get_json()
    assert info == {"sub": alice.sub, "preferred_username": "alice", "name": "张三"}


def test_sm2_client_gets_sm2_signed_id_tokens(idp, alice):
    client, _ = idp.client(public=True, alg="SM2")
    web = idp.app.test_client()
    verifier, challenge = pkce_pair()
    code = sign_in_and_get_code(idp, web, client.client_id, challenge)["code"]
    tokens = exchange(web, client.client_id, code, verifier).get_json()
    header, claims = jose.verify_jwt(tokens["id_token"], jwks(web), algorithms=["SM2"])
    assert header["alg"] == "SM2" and claims["sub"] == alice.sub


def test_code_replay_fails_and_revokes_what_the_first_use_gave(idp, alice):
    client, secret = idp.client()
    web = idp.app.test_client()
    verifier, challenge = pkce_pair()
    code = sign_in_and_get_code(idp, web, client.client_id, challenge)["code"]
    first = exchange(web, client.client_id, code, verifier, secret).get_json()
    second = exchange(web, client.client_id, code, verifier, secret)
    assert second.status_code == 400 and second.get_json()["error"] == "invalid_grant"
    assert web.get("/userinfo", headers={"Authorization": f"Bearer {first['access_token']}"}).status_code == 401
    refresh = web.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            "client_id": client.client_id,
            "client_secret": secret,
        },
    )
    assert refresh.status_code == 400


def test_public_client_without_pkce_is_refused(idp, alice):
    client, _ = idp.client(public=True)
    web = idp.app.test_client()
    login(web, "alice")
    params = code_from(web.get(authorize_url(client.client_id, None)))
    assert params["error"] == "invalid_request" and "PKCE" in params["error_description"]


def test_plain_pkce_and_a_wrong_verifier_are_refused(idp, alice):
    client, _ = idp.client(public=True)
    web = idp.app.test_client()
    login(web, "alice")
    plain = code_from(
        web.get(authorize_url(client.client_id, None, code_challenge="x" * 43, code_challenge_method="plain"))
    )
    assert plain["error"] == "invalid_request"
    verifier, challenge = pkce_pair()
    code = code_from(through_consent(web, web.get(authorize_url(client.client_id, challenge))))["code"]
    wrong = exchange(web, client.client_id, code, verifier[:-1] + ("A" if verifier[-1] != "A" else "B"))
    assert wrong.status_code == 400 and wrong.get_json()["error"] == "invalid_grant"


def test_redirect_uri_mismatch_shows_an_error_page_and_never_redirects(idp, alice):
    client, _ = idp.client(public=True)
    web = idp.app.test_client()
    _, challenge = pkce_pair()
    response = web.get(authorize_url(client.client_id, challenge, redirect_uri="https://evil.example/cb"))
    assert response.status_code == 400 and "Location" not in response.headers


def test_refresh_rotates_and_reuse_revokes_the_grant(idp, alice):
    client, secret = idp.client()
    web = idp.app.test_client()
    verifier, challenge = pkce_pair()
    code = sign_in_and_get_code(idp, web, client.client_id, challenge)["code"]
    first = exchange(web, client.client_id, code, verifier, secret).get_json()
    auth = {"client_id": client.client_id, "client_secret": secret, "grant_type": "refresh_token"}
    second = web.post("/token", data={**auth, "refresh_token": first["refresh_token"]}).get_json()
    assert second["refresh_token"] != first["refresh_token"]
    reused = web.post("/token", data={**auth, "refresh_token": first["refresh_token"]})
    assert reused.status_code == 400
    after = web.post("/token", data={**auth, "refresh_token": second["refresh_token"]})
    assert after.status_code == 400  # the whole grant is gone
    assert web.get("/userinfo", headers={"Authorization": f"Bearer {second['access_token']}"}).status_code == 401


def test_client_credentials_with_basic_and_post_and_a_wrong_secret(idp):
    client, secret = idp.client(grants=("client_credentials",), scope="seal:sign")
    web = idp.app.test_client()
    basic = base64.b64encode(f"{client.client_id}:{secret}".encode()).decode()
    by_basic = web.post(
        "/token", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"}
    )
    assert by_basic.status_code == 200, by_basic.get_json()
    _header, claims = jose.verify_jwt(by_basic.get_json()["access_token"], jwks(web), algorithms=["ES256"])
    assert claims["sub"] == client.client_id and claims["scope"] == "seal:sign"
    by_post = web.post(
        "/token", data={"grant_type": "client_credentials", "client_id": client.client_id, "client_secret": secret}
    )
    assert by_post.status_code == 200
    wrong = web.post(
        "/token",
        data={"grant_type": "client_credentials", "client_id": client.client_id, "client_secret": secret + "x"},
    )
    assert wrong.status_code == 401 and wrong.get_json()["error"] == "invalid_client"


def test_introspection_and_revocation(idp):
    client, secret = idp.client(grants=("client_credentials",), scope="seal:read")
    web = idp.app.test_client()
    auth = {"client_id": client.client_id, "client_secret": secret}
    token = web.post("/token", data={"grant_type": "client_credentials", **auth}).get_json()["access_token"]
    active = web.post("/introspect", data={"token": token, **auth}).get_json()
    assert active["active"] is True and active["client_id"] == client.client_id
    assert web.post("/revoke", data={"token": token, **auth}).status_code == 200
    assert web.post("/introspect", data={"token": token, **auth}).get_json() == {"active": False}


def test_prompt_none_without_a_session_answers_login_required(idp):
    client, _ = idp.client(public=True)
    _, challenge = pkce_pair()
    params = code_from(idp.app.test_client().get(authorize_url(client.client_id, challenge, prompt="none")))
    assert params["error"] == "login_required" and params["state"] == "st-1"


def test_login_without_the_csrf_token_is_refused(idp, alice):
    response = idp.app.test_client().post("/login", data={"login": "alice", "password": PASSWORD})
    assert response.status_code == 400
    assert "yitong_sso" not in response.headers.get("Set-Cookie", "")


def test_wrong_password_is_a_401_page_without_a_session(idp, alice):
    response = login(idp.app.test_client(), "alice", "not-the-password")
    assert response.status_code == 401 and "yitong_sso" not in response.headers.get("Set-Cookie", "")


def test_logout_with_id_token_hint_redirects_to_the_registered_uri_and_ends_the_session(idp, alice):
    client, _ = idp.client(public=True)
    web = idp.app.test_client()
    verifier, challenge = pkce_pair()
    code = sign_in_and_get_code(idp, web, client.client_id, challenge)["code"]
    tokens = exchange(web, client.client_id, code, verifier).get_json()
    out = web.get(
        "/logout?"
        + "&".join(
            [f"id_token_hint={tokens['id_token']}", "post_logout_redirect_uri=http://127.0.0.1:9000/bye", "state=s9"]
        )
    )
    assert out.status_code == 302 and out.headers["Location"] == "http://127.0.0.1:9000/bye?state=s9"
    assert web.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).status_code == 401
    again = web.get(authorize_url(client.client_id, challenge, prompt="none"))
    assert code_from(again)["error"] == "login_required"


@pytest.mark.parametrize("forgery", ["none", "hs256"])
def test_forged_access_tokens_are_refused_at_userinfo(idp, alice, forgery):
    kid = jwks(idp.app.test_client())[0]["kid"]
    header = {"alg": "none" if forgery == "none" else "HS256", "typ": "at+jwt", "kid": kid}
    claims = {"iss": ISSUER, "sub": alice.sub, "aud": ISSUER, "scope": "openid", "exp": 4102444800, "jti": "x"}

    def b64(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    token = f"{b64(header)}.{b64(claims)}." + ("" if forgery == "none" else "c2lnbmF0dXJl")
    response = idp.app.test_client().get("/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_brute_force_gets_captcha_then_429_while_the_victim_still_signs_in(idp, alice):
    attacker = idp.app.test_client()
    statuses, saw_captcha = [], False
    for _ in range(60):  # guesses ignoring the CAPTCHA still count against the address
        response = login(attacker, "alice", "wrong-guess-123", ip="203.0.113.7")
        statuses.append(response.status_code)
        saw_captcha = saw_captcha or "captcha_token" in response.get_data(as_text=True)
        if response.status_code == 429:
            assert int(response.headers["Retry-After"]) >= 1
            break
    assert saw_captcha and statuses[-1] == 429 and set(statuses[:-1]) == {401}
    victim = idp.app.test_client()
    signed_in = login(victim, "alice", ip="198.51.100.20")
    assert signed_in.status_code == 302 and "yitong_sso" in signed_in.headers.get("Set-Cookie", "")


def test_captcha_answer_is_needed_once_the_pair_is_suspicious(idp, alice):
    web = idp.app.test_client()
    for _ in range(5):
        login(web, "alice", "wrong-guess-123", ip="203.0.113.9")
    response = login(web, "alice", ip="203.0.113.9")  # right password, but no CAPTCHA answer yet
    assert response.status_code == 401 and "captcha_token" in response.get_data(as_text=True)
    token = response.get_data(as_text=True).split('name="captcha_token" value="')[1].split('"')[0]
    wrong = login(web, "alice", ip="203.0.113.9", captcha_token=token, captcha_answer="XXXXX")
    assert wrong.status_code == 401 and "yitong_sso" not in wrong.headers.get("Set-Cookie", "")


def test_logins_tokens_and_logouts_are_audited_with_who_what_and_where(idp, alice):
    client, _ = idp.client(public=True)
    web = idp.app.test_client()
    login(web, "alice", "wrong-guess-123")
    verifier, challenge = pkce_pair()
    code = sign_in_and_get_code(idp, web, client.client_id, challenge)["code"]
    exchange(web, client.client_id, code, verifier)
    confirm_logout(web)

    events = Audit(idp.home.engine).tail()
    names = [e.event for e in events]
    assert names[:5] == ["login.failure", "login.success", "consent.given", "token.issued", "logout"]
    failure, success = events[0], events[1]
    request_id = failure.detail.pop("request_id")  # the id its response and log lines carry (yitong/observability.py)
    assert failure.detail == {"login": "a***e"} and failure.ip == "127.0.0.1" and len(request_id) == 32
    assert success.detail["request_id"] != request_id  # each request its own
    assert success.sub == alice.sub and events[3].client_id == client.client_id


def _enrol_totp(web):
    import pyotp

    page = web.get("/account/mfa").get_data(as_text=True)
    secret = page.split('data-secret="')[1].split('"')[0]
    csrf = page.split('name="csrf" value="')[1].split('"')[0]
    done = web.post("/account/mfa", data={"csrf": csrf, "code": pyotp.TOTP(secret).now()}).get_data(as_text=True)
    codes = [c.split("</code>")[0] for c in done.split("<li><code>")[1:]]
    return secret, codes


def test_totp_enrolment_then_login_needs_the_second_factor(idp, alice):
    import pyotp

    web = idp.app.test_client()
    login(web, "alice")
    secret, codes = _enrol_totp(web)
    assert len(codes) == 10
    fresh = idp.app.test_client()
    first = login(fresh, "alice")
    assert first.status_code == 302 and first.headers["Location"] == "/login/mfa"
    assert "yitong_sso" not in first.headers.get("Set-Cookie", "")  # no session before the second factor
    page = fresh.get("/login/mfa").get_data(as_text=True)
    csrf = page.split('name="csrf" value="')[1].split('"')[0]
    assert fresh.post("/login/mfa", data={"csrf": csrf, "code": "000000"}).status_code == 401
    # The code enrolment used is spent; the next step's code must be used instead.
    code = pyotp.TOTP(secret).at(int(__import__("time").time()) + 30)
    done = fresh.post("/login/mfa", data={"csrf": csrf, "code": code})
    assert done.status_code == 302 and "yitong_sso" in done.headers.get("Set-Cookie", "")
    client, _ = idp.client(public=True)
    verifier, challenge = pkce_pair()
    params = code_from(through_consent(fresh, fresh.get(authorize_url(client.client_id, challenge))))
    id_token = exchange(fresh, client.client_id, params["code"], verifier).get_json()["id_token"]
    _header, claims = jose.verify_jwt(id_token, jwks(fresh), algorithms=["ES256"])
    assert claims["amr"] == ["pwd", "otp"]  # the RP can see that two factors were used


def test_a_recovery_code_works_once(idp, alice):
    web = idp.app.test_client()
    login(web, "alice")
    _secret, codes = _enrol_totp(web)
    for expected in (302, 401):
        fresh = idp.app.test_client()
        login(fresh, "alice")
        page = fresh.get("/login/mfa").get_data(as_text=True)
        csrf = page.split('name="csrf" value="')[1].split('"')[0]
        assert fresh.post("/login/mfa", data={"csrf": csrf, "code": codes[0]}).status_code == expected


def test_totp_secret_is_not_stored_in_clear(idp, alice, storage):
    web = idp.app.test_client()
    login(web, "alice")
    secret, _codes = _enrol_totp(web)
    from sqlalchemy import select

    from idp.models import users_table

    with idp.home.engine.connect() as conn:
        row = conn.execute(select(users_table).where(users_table.c.sub == alice.sub)).first()
    assert secret.encode() not in bytes(row.totp_secret_wrapped)
    assert all(secret not in h for h in row.recovery_hashes)


def test_consent_is_asked_once_then_remembered_and_denial_answers_access_denied(idp, alice):
    client, _ = idp.client(public=True)
    web = idp.app.test_client()
    login(web, "alice")
    _, challenge = pkce_pair()
    asked = web.get(authorize_url(client.client_id, challenge))
    assert asked.status_code == 200 and "Test portal" in asked.get_data(as_text=True)
    denied = code_from(through_consent(web, asked, decision="deny"))
    assert denied["error"] == "access_denied" and denied["state"] == "st-1"
    assert code_from(through_consent(web, web.get(authorize_url(client.client_id, challenge))))["code"]
    again = web.get(authorize_url(client.client_id, challenge))  # remembered: straight to the code
    assert code_from(again)["code"]
    silent = web.get(authorize_url(client.client_id, challenge, scope="openid phone", prompt="none"))
    assert code_from(silent)["error"] == "consent_required"  # a new scope needs asking


def test_resource_indicator_sets_the_audience_and_unknown_resources_are_refused(idp):
    client, secret = idp.client(grants=("client_credentials",), scope="seal:sign")
    web = idp.app.test_client()
    auth = {"grant_type": "client_credentials", "client_id": client.client_id, "client_secret": secret}
    token = web.post("/token", data={**auth, "resource": f"{ISSUER}/seal"}).get_json()["access_token"]
    _header, claims = jose.verify_jwt(token, jwks(web), algorithms=["ES256"])
    assert claims["aud"] == f"{ISSUER}/seal"
    introspected = web.post("/introspect", data={"token": token, "client_id": client.client_id,
                                                 "client_secret": secret}).get_json()
    assert introspected["active"] is True and introspected["aud"] == f"{ISSUER}/seal"  # any of our audiences
    refused = web.post("/token", data={**auth, "resource": "https://evil.example/api"})
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_target"


def test_unknown_resource_at_the_authorization_endpoint_is_invalid_target(idp, alice):
    client, _ = idp.client(public=True)
    web = idp.app.test_client()
    login(web, "alice")
    _, challenge = pkce_pair()
    params = code_from(web.get(authorize_url(client.client_id, challenge, resource="https://evil.example/api")))
    assert params["error"] == "invalid_target" and params["state"] == "st-1"


def test_error_redirects_from_the_authorization_endpoint_carry_iss(idp):
    client, _ = idp.client(public=True)
    _, challenge = pkce_pair()
    params = code_from(idp.app.test_client().get(authorize_url(client.client_id, challenge, prompt="none")))
    assert params["error"] == "login_required" and params["iss"] == ISSUER  # RFC 9207 §2


def _dpop_key():
    from keys.asymmetric import generate_private_key

    key = generate_private_key("p256")
    return key, jose.public_jwk(key.public_key(), use=None)


def test_dpop_binds_tokens_to_the_clients_key_and_userinfo_demands_the_proof(idp, alice):
    from keys.dpop import proof_for

    client, _ = idp.client(public=True)
    web = idp.app.test_client()
    verifier, challenge = pkce_pair()
    code = sign_in_and_get_code(idp, web, client.client_id, challenge)["code"]
    key, jwk = _dpop_key()
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier,
            "client_id": client.client_id}
    tokens = web.post("/token", data=form, headers={"DPoP": proof_for(key, jwk, "POST", f"{ISSUER}/token")}).get_json()
    assert tokens["token_type"] == "DPoP"
    _header, claims = jose.verify_jwt(tokens["access_token"], jwks(web), algorithms=["ES256"])
    assert claims["cnf"]["jkt"] == jose.jwk_thumbprint(jwk)
    access = tokens["access_token"]
    as_bearer = web.get("/userinfo", headers={"Authorization": f"Bearer {access}"})
    assert as_bearer.status_code == 401  # a stolen DPoP token is useless as a bearer token
    proof = proof_for(key, jwk, "GET", f"{ISSUER}/userinfo", access_token=access)
    ok = web.get("/userinfo", headers={"Authorization": f"DPoP {access}", "DPoP": proof})
    assert ok.status_code == 200 and ok.get_json()["sub"] == alice.sub
    replayed = web.get("/userinfo", headers={"Authorization": f"DPoP {access}", "DPoP": proof})
    assert replayed.status_code == 401  # the proof's jti was already used
    other_key, other_jwk = _dpop_key()
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": client.client_id}
    stolen = web.post("/token", data=refresh,
                      headers={"DPoP": proof_for(other_key, other_jwk, "POST", f"{ISSUER}/token")})
    assert stolen.status_code == 400  # the refresh token is bound to the first key (RFC 9449 §5)
    rightful = web.post("/token", data=refresh, headers={"DPoP": proof_for(key, jwk, "POST", f"{ISSUER}/token")})
    assert rightful.status_code == 200 and rightful.get_json()["token_type"] == "DPoP"


def test_a_bad_dpop_proof_is_invalid_dpop_proof(idp):
    client, secret = idp.client(grants=("client_credentials",), scope="seal:read")
    response = idp.app.test_client().post(
        "/token", data={"grant_type": "client_credentials", "client_id": client.client_id, "client_secret": secret},
        headers={"DPoP": "not.a.proof"})
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_dpop_proof"


def test_pushed_authorization_request_then_code_and_the_handle_is_single_use(idp, alice):
    client, secret = idp.client()
    web = idp.app.test_client()
    verifier, challenge = pkce_pair()
    pushed = web.post("/par", data={"client_id": client.client_id, "client_secret": secret, "response_type": "code",
                                    "redirect_uri": REDIRECT, "scope": "openid profile", "state": "par-state",
                                    "nonce": "par-nonce", "code_challenge": challenge,
                                    "code_challenge_method": "S256"})
    assert pushed.status_code == 201, pushed.get_json()
    request_uri = pushed.get_json()["request_uri"]
    assert request_uri.startswith("urn:ietf:params:oauth:request_uri:") and pushed.get_json()["expires_in"] > 0
    from urllib.parse import urlencode

    url = "/authorize?" + urlencode({"client_id": client.client_id, "request_uri": request_uri})
    assert web.get(url).headers["Location"].startswith("/login?")
    back = login(web, "alice", return_to=url)
    params = code_from(through_consent(web, web.get(back.headers["Location"])))
    assert params["state"] == "par-state"
    tokens = exchange(web, client.client_id, params["code"], verifier, secret).get_json()
    _header, claims = jose.verify_jwt(tokens["id_token"], jwks(web), algorithms=["ES256"])
    assert claims["nonce"] == "par-nonce"
    assert web.get(url).status_code == 400  # used: RFC 9126 §4 one-time use


def test_par_and_authorize_refuse_a_plain_pkce_challenge_by_the_same_rule(idp):
    client, secret = idp.client()
    web = idp.app.test_client()
    params = {"client_id": client.client_id, "response_type": "code", "redirect_uri": REDIRECT, "scope": "openid",
              "state": "s", "code_challenge": "a" * 43, "code_challenge_method": "plain"}
    pushed = web.post("/par", data={**params, "client_secret": secret})
    from urllib.parse import parse_qs, urlencode, urlsplit

    refused = parse_qs(urlsplit(web.get("/authorize?" + urlencode(params)).headers["Location"]).query)
    assert pushed.status_code == 400 and pushed.get_json()["error"] == refused["error"][0] == "invalid_request"
    assert pushed.get_json()["error_description"] == refused["error_description"][0]


def test_par_refuses_a_bad_redirect_uri_and_response_type_in_the_words_of_authorize(idp):
    client, secret = idp.client()
    web = idp.app.test_client()
    from html import unescape
    from urllib.parse import parse_qs, urlencode, urlsplit

    base = {"client_id": client.client_id, "response_type": "code", "redirect_uri": REDIRECT, "scope": "openid",
            "state": "s"}
    evil = {**base, "redirect_uri": "https://evil.example/cb"}
    pushed = web.post("/par", data={**evil, "client_secret": secret})
    page = unescape(web.get("/authorize?" + urlencode(evil)).get_data(as_text=True))  # no redirect: a page
    assert pushed.status_code == 400 and pushed.get_json()["error"] == "invalid_request"
    assert f"invalid_request: {pushed.get_json()['error_description']}" in page
    token = {**base, "response_type": "token"}
    pushed = web.post("/par", data={**token, "client_secret": secret})
    refused = parse_qs(urlsplit(web.get("/authorize?" + urlencode(token)).headers["Location"]).query)
    assert pushed.status_code == 400
    assert pushed.get_json()["error"] == refused["error"][0] == "unsupported_response_type"
    assert pushed.get_json().get("error_description") == refused.get("error_description", [None])[0]


def test_par_checks_the_request_before_keeping_it(idp):
    client, secret = idp.client()
    web = idp.app.test_client()
    auth = {"client_id": client.client_id, "client_secret": secret, "response_type": "code", "scope": "openid"}
    bad_redirect = web.post("/par", data={**auth, "redirect_uri": "https://evil.example/cb"})
    assert bad_redirect.status_code == 400 and bad_redirect.get_json()["error"] == "invalid_request"
    bad_secret = web.post("/par", data={**auth, "client_secret": "nope", "redirect_uri": REDIRECT})
    assert bad_secret.status_code == 401 and bad_secret.get_json()["error"] == "invalid_client"
    other = idp.client()[0]
    stolen = web.post("/par", data={**auth, "redirect_uri": REDIRECT}).get_json()["request_uri"]
    from urllib.parse import urlencode

    assert web.get("/authorize?" + urlencode({"client_id": other.client_id, "request_uri": stolen})).status_code == 400


def test_backchannel_logout_token_reaches_the_rp(idp, alice):
    receiver = BackchannelReceiver()
    client, _ = idp.client(public=True, backchannel_logout_uri=receiver.uri)
    web = idp.app.test_client()
    verifier, challenge = pkce_pair()
    code = sign_in_and_get_code(idp, web, client.client_id, challenge)["code"]
    id_token = exchange(web, client.client_id, code, verifier).get_json()["id_token"]
    confirm_logout(web)
    logout_token = receiver.logout_token(idp)
    header, claims = jose.verify_jwt(logout_token, jwks(web), algorithms=["ES256"])
    _h, id_claims = jose.verify_jwt(id_token, jwks(web), algorithms=["ES256"])
    assert header["typ"] == "logout+jwt" and "nonce" not in claims
    assert (claims["aud"], claims["sub"], claims["sid"]) == (client.client_id, alice.sub, id_claims["sid"])
    assert "http://schemas.openid.net/event/backchannel-logout" in claims["events"]


def test_admin_api_manages_clients_with_an_admin_scoped_token(idp):
    admin, secret = idp.client(grants=("client_credentials",), scope="yitong:admin")
    Operators(idp.home.engine).grant(admin.client_id, "system", by=None)  # clients are the system role's
    web = idp.app.test_client()
    token = web.post("/token", data={"grant_type": "client_credentials", "client_id": admin.client_id,
                                     "client_secret": secret, "scope": "yitong:admin"}).get_json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    made = web.post("/admin/api/v1/clients", headers=auth, json={
        "client_name": "Licence portal", "redirect_uris": ["https://licence.example.gov.cn/cb"],
        "grant_types": ["authorization_code"], "scope": "openid profile"})
    assert made.status_code == 201 and made.get_json()["client_secret"]
    client_id = made.get_json()["client_id"]
    patched = web.patch(f"/admin/api/v1/clients/{client_id}", headers=auth, json={"scope": "openid"})
    assert patched.get_json()["scope"] == "openid"
    assert web.post(f"/admin/api/v1/clients/{client_id}/secret", headers=auth).get_json()["client_secret"]
    bad = web.post("/admin/api/v1/clients", headers=auth, json={"grant_types": ["password"]})
    assert bad.status_code == 400 and bad.headers["Content-Type"] == "application/problem+json"
    assert web.delete(f"/admin/api/v1/clients/{client_id}", headers=auth).status_code == 204
    assert web.get(f"/admin/api/v1/clients/{client_id}", headers=auth).status_code == 404


def test_admin_api_refuses_missing_and_unscoped_tokens(idp):
    reader, secret = idp.client(grants=("client_credentials",), scope="seal:read")
    web = idp.app.test_client()
    assert web.get("/admin/api/v1/clients").status_code == 401
    token = web.post("/token", data={"grant_type": "client_credentials", "client_id": reader.client_id,
                                     "client_secret": secret}).get_json()["access_token"]
    refused = web.get("/admin/api/v1/clients", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 403 and "insufficient_scope" in refused.headers["WWW-Authenticate"]


@pytest.mark.parametrize("mode", ["fragment", "form_post"])
def test_response_modes_fragment_and_form_post_carry_code_state_and_iss(idp, alice, mode):
    client, _ = idp.client(public=True)
    web = idp.app.test_client()
    login(web, "alice")
    _, challenge = pkce_pair()
    response = through_consent(web, web.get(authorize_url(client.client_id, challenge, response_mode=mode)))
    if mode == "fragment":
        target, _, fragment = response.headers["Location"].partition("#")
        assert target == REDIRECT and "code=" in fragment and "iss=" in fragment and "state=st-1" in fragment
    else:
        page = response.get_data(as_text=True)
        assert response.status_code == 200 and f'action="{REDIRECT}"' in page
        assert 'name="code"' in page and 'name="state" value="st-1"' in page and 'name="iss"' in page
        csp = response.headers["Content-Security-Policy"]  # the auto-submit runs by nonce, framing is refused
        assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp and "form-action" not in csp
        assert f'<script nonce="{csp.split("nonce-")[1].split(chr(39))[0]}">' in page


def test_unknown_response_mode_is_refused(idp, alice):
    client, _ = idp.client(public=True)
    web = idp.app.test_client()
    login(web, "alice")
    _, challenge = pkce_pair()
    params = code_from(web.get(authorize_url(client.client_id, challenge, response_mode="web_message")))
    assert params["error"] == "invalid_request"


def test_dynamic_registration_needs_the_initial_token_and_manages_itself(idp):
    web = idp.app.test_client()
    metadata = {"client_name": "Registered portal", "redirect_uris": ["https://reg.example.gov.cn/cb"],
                "grant_types": ["authorization_code"], "scope": "openid"}
    assert web.post("/register", json=metadata).status_code == 404  # off by default
    idp.app.extensions["yitong.idp"].dcr_initial_token = "i" * 40
    assert web.post("/register", json=metadata).status_code == 401
    made = web.post("/register", json=metadata, headers={"Authorization": "Bearer " + "i" * 40})
    assert made.status_code == 201, made.get_json()
    info = made.get_json()
    assert info["client_secret"] and info["registration_access_token"]
    assert info["registration_client_uri"] == f"{ISSUER}/register/{info['client_id']}"
    manage = {"Authorization": f"Bearer {info['registration_access_token']}"}
    assert web.get(f"/register/{info['client_id']}", headers=manage).get_json()["client_name"] == "Registered portal"
    assert web.get(f"/register/{info['client_id']}", headers={"Authorization": "Bearer nope"}).status_code == 401
    updated = web.put(f"/register/{info['client_id']}", headers=manage,
                      json={**metadata, "client_id": info["client_id"], "scope": "openid profile"})
    assert updated.status_code == 200 and updated.get_json()["scope"] == "openid profile"
    assert web.delete(f"/register/{info['client_id']}", headers=manage).status_code == 204
    assert idp.clients.get(info["client_id"]) is None


# -- acr_values (OIDC Core §3.1.2.1) -------------------------------------------------------------------------
def authorize_signed_in(idp, web, client_id, challenge, **params):
    """Sign alice in for this request and follow back to the authorization endpoint once."""
    back = login(web, "alice", return_to=authorize_url(client_id, challenge, **params))
    assert back.status_code == 302
    return through_consent(web, web.get(back.headers["Location"]))


def test_acr_values_met_by_the_session_give_a_code_and_an_id_token_with_that_acr(idp, alice):
    client, _ = idp.client(public=True)
    web = idp.app.test_client()
    verifier, challenge = pkce_pair()
    params = code_from(authorize_signed_in(idp, web, client.client_id, challenge, acr_values="urn:yitong:loa:1"))
    tokens = exchange(web, client.client_id, params["code"], verifier).get_json()
    _, claims = jose.verify_jwt(tokens["id_token"], jwks(web), algorithms=["ES256"])
    assert claims["acr"] == "urn:yitong:loa:1"


@pytest.mark.parametrize("request_params", [
    {"acr_values": "urn:yitong:loa:3"},
    {"acr_values": "urn:yitong:loa:4 urn:yitong:loa:2"},  # the lowest named level (2) is still above 1
    {"claims": json.dumps({"id_token": {"acr": {"essential": True, "values": ["urn:yitong:loa:2"]}}})},
    {"acr_values": "urn:example:gold"},  # unknown levels are never answered with one of ours
])
def test_acr_values_above_the_sign_in_are_refused_never_silently_lowered(idp, alice, request_params):
    client, _ = idp.client(public=True)
    web = idp.app.test_client()
    _, challenge = pkce_pair()
    params = code_from(authorize_signed_in(idp, web, client.client_id, challenge, **request_params))
    assert params["error"] == "unmet_authentication_requirements" and "code" not in params
    assert params["state"] == "st-1" and params["iss"] == ISSUER
    refused = Audit(idp.home.engine).tail(5, event="authorize.refused")
    assert refused and refused[0].sub == alice.sub and refused[0].client_id == client.client_id


def test_a_higher_level_satisfies_a_lower_request_and_the_token_says_the_higher_one(idp, alice):
    idp.accounts.set_level(alice.sub, "urn:yitong:loa:2")
    client, _ = idp.client(public=True)
    web = idp.app.test_client()
    verifier, challenge = pkce_pair()
    params = code_from(authorize_signed_in(idp, web, client.client_id, challenge,
                                           acr_values="urn:yitong:loa:1 urn:yitong:loa:2"))
    tokens = exchange(web, client.client_id, params["code"], verifier).get_json()
    _, claims = jose.verify_jwt(tokens["id_token"], jwks(web), algorithms=["ES256"])
    assert claims["acr"] == "urn:yitong:loa:2"


# -- login_hint and id_token_hint at the authorization endpoint -------------------------------------------------
def test_login_hint_fills_in_the_login_name(idp):
    client, _ = idp.client(public=True)
    _, challenge = pkce_pair()
    web = idp.app.test_client()
    first = web.get(authorize_url(client.client_id, challenge, login_hint="13800138000"))
    page = web.get(first.headers["Location"]).get_data(as_text=True)
    assert 'id="login" name="login" type="text" autocomplete="username" value="13800138000"' in page
    hostile = web.get(web.get(authorize_url(client.client_id, challenge, login_hint='"><script>')).headers["Location"])
    assert "<script>" not in hostile.get_data(as_text=True)


def test_id_token_hint_of_the_signed_in_person_passes_and_of_another_needs_a_new_sign_in(idp, alice):
    bob = idp.accounts.create(username="bobby", password=PASSWORD)
    client, _ = idp.client(public=True)
    web, other = idp.app.test_client(), idp.app.test_client()
    verifier, challenge = pkce_pair()
    code = sign_in_and_get_code(idp, web, client.client_id, challenge)["code"]
    alice_id_token = exchange(web, client.client_id, code, verifier).get_json()["id_token"]
    # Same person: straight through, no login page.
    again = web.get(authorize_url(client.client_id, challenge, id_token_hint=alice_id_token, prompt="none"))
    assert "code" in code_from(again)
    # Bob's browser, hinted with Alice's ID token: no silent answer for Bob.
    assert login(other, "bobby").status_code == 302 and bob.sub != alice.sub
    params = code_from(other.get(authorize_url(client.client_id, challenge, id_token_hint=alice_id_token,
                                               prompt="none")))
    assert params["error"] == "login_required" and "code" not in params
    to_login = other.get(authorize_url(client.client_id, challenge, id_token_hint=alice_id_token))
    assert to_login.status_code == 302 and to_login.headers["Location"].startswith("/login?")


def test_an_id_token_hint_that_is_not_ours_is_invalid_request(idp, alice):
    client, _ = idp.client(public=True)
    web = idp.app.test_client()
    _, challenge = pkce_pair()
    assert login(web, "alice").status_code == 302
    forged = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."
    params = code_from(web.get(authorize_url(client.client_id, challenge, id_token_hint=forged)))
    assert params["error"] == "invalid_request" and "id_token_hint" in params["error_description"]


# -- signing-key rotation -------------------------------------------------------------------------------------
def test_key_rotation_publishes_the_next_key_before_it_signs_and_keeps_the_old_one_verifying(idp):
    from datetime import timedelta

    from keys.storage import utcnow

    client, secret = idp.client(grants=("client_credentials",), scope="seal:read")
    web = idp.app.test_client()
    auth = {"client_id": client.client_id, "client_secret": secret}
    signing = idp.app.extensions["yitong.idp"].keys

    def token() -> str:
        return web.post("/token", data={"grant_type": "client_credentials", **auth}).get_json()["access_token"]

    def es256_kids() -> set[str]:
        return {k["kid"] for k in web.get("/jwks.json").get_json()["keys"]}

    old_token = token()
    old_kid = jose.decode_header(old_token)["kid"]
    assert es256_kids() == {old_kid}
    keystore = idp.home.keystore()
    keystore.rotate("token", activate_after=timedelta(hours=24))
    signing.refresh()
    published = es256_kids()
    assert len(published) == 2 and old_kid in published  # the successor is published, pending
    assert jose.decode_header(token())["kid"] == old_kid  # ... and does not sign yet
    keystore.promote_due(now=utcnow() + timedelta(hours=25))
    signing.refresh()
    new_kid = jose.decode_header(token())["kid"]
    assert new_kid != old_kid and new_kid in published
    assert old_kid in es256_kids()  # retiring: still published while its tokens may be alive
    assert web.post("/introspect", data={"token": old_token, **auth}).get_json()["active"] is True
