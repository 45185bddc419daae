"""Client authentication by signed assertion (private_key_jwt, RFC 7523 §2.2) at the token endpoint."""

from __future__ import annotations

import secrets
import time

import pytest

from idp.oauth.clients import build_metadata
from idp.oauth.server import MAX_ASSERTION_LIFETIME, PrivateKeyJwt
from keys import jose
from keys.asymmetric import generate_private_key
from keys.runtime.cache import MemoryStore, ReplayCache
from tests.idp.support import ISSUER, make_idp

KID = "rp-key-1"
FORM = {"grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}


@pytest.fixture
def idp(storage, tmp_path):
    return make_idp(storage, tmp_path)


@pytest.fixture
def key():
    return generate_private_key("p256")


@pytest.fixture
def signing_client(idp, key):
    """A client_credentials client that authenticates with private_key_jwt and ``key``."""
    jwk = {**jose.public_jwk(key.public_key(), kid=KID), "kid": KID}
    metadata = build_metadata(redirect_uris=[], grant_types=["client_credentials"], scope="seal:read",
                              token_endpoint_auth_method="private_key_jwt", public=False, jwks={"keys": [jwk]})
    client, secret = idp.clients.create("Signed-assertion service", metadata)
    assert secret is None
    return client


def assertion(client_id: str, signing_key, kid: str = KID, **claims) -> str:
    now = int(time.time())
    body = {"iss": client_id, "sub": client_id, "aud": f"{ISSUER}/token", "iat": now, "exp": now + 60,
            "jti": secrets.token_urlsafe(12), **claims}
    return jose.sign_jwt({k: v for k, v in body.items() if v is not None}, signing_key, kid)


def token_with(web, signed: str):
    return web.post("/token", data={**FORM, "client_assertion": signed})


def refused_as_invalid_client(response) -> bool:
    # RFC 6749 §5.2: invalid_client is a 400 unless the client used the Authorization header.
    return response.status_code == 400 and response.get_json()["error"] == "invalid_client"


def test_private_key_jwt_client_authentication_and_assertion_replay(idp, signing_client, key):
    web = idp.app.test_client()
    signed = assertion(signing_client.client_id, key)
    ok = token_with(web, signed)
    assert ok.status_code == 200, ok.get_json()
    assert refused_as_invalid_client(token_with(web, signed))  # the same jti again
    assert refused_as_invalid_client(token_with(web, assertion(signing_client.client_id, generate_private_key("p256"))))


def test_an_assertion_naming_a_client_with_a_secret_is_invalid_client_not_a_500(idp, key):
    secret_client, _ = idp.client(grants=("client_credentials",), scope="openid")
    refused = token_with(idp.app.test_client(), assertion(secret_client.client_id, key))
    assert refused_as_invalid_client(refused)
    assert "private_key_jwt" in refused.get_json()["error_description"]


@pytest.mark.parametrize("kid", ['other"key', "back\\slash", "key\nline", "clé"])
def test_an_assertion_with_an_unknown_kid_of_any_characters_is_invalid_client(idp, signing_client, key, kid):
    assert refused_as_invalid_client(token_with(idp.app.test_client(), assertion(signing_client.client_id, key, kid)))


@pytest.mark.parametrize("claims", [
    {"exp": int(time.time()) + 10 * 365 * 86400},  # the probe's ten-year assertion
    {"iat": None, "exp": int(time.time()) + 3600},  # no iat, an hour ahead
    {"iat": int(time.time()) - 3000, "exp": int(time.time()) + 60},  # issued long ago, still unexpired
], ids=["ten-years", "no-iat-an-hour", "iat-to-exp-over-five-minutes"])
def test_a_long_lived_assertion_is_refused(idp, signing_client, key, claims):
    refused = token_with(idp.app.test_client(), assertion(signing_client.client_id, key, **claims))
    assert refused_as_invalid_client(refused)
    assert "300 seconds" in refused.get_json()["error_description"]


def test_an_assertion_of_five_minutes_is_accepted_without_iat_too(idp, signing_client, key):
    web = idp.app.test_client()
    now = int(time.time())
    bounded = assertion(signing_client.client_id, key, iat=now, exp=now + MAX_ASSERTION_LIFETIME)
    assert token_with(web, bounded).status_code == 200
    assert token_with(web, assertion(signing_client.client_id, key, iat=None, exp=now + 240)).status_code == 200


def test_a_used_jti_is_remembered_until_the_assertion_could_no_longer_be_accepted():
    clock = [1_000_000.0]
    cache = ReplayCache(MemoryStore(clock=lambda: clock[0]), "client-assertion")
    checker = PrivateKeyJwt(ISSUER, cache)
    claims = {"iss": "c1", "exp": int(time.time()) + MAX_ASSERTION_LIFETIME, "jti": "j-1"}
    assert checker.validate_jti(claims, "j-1")
    clock[0] += MAX_ASSERTION_LIFETIME + checker.leeway - 1  # exp (+ leeway) not yet passed
    assert not checker.validate_jti(claims, "j-1")
