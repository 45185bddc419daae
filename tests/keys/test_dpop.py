"""keys/dpop.py: every RFC 9449 §4.3 check, for P-256, SM2 and RSA proofs, with real keys and
the in-process replay cache."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest

from keys import dpop, jose
from keys.asymmetric import generate_private_key
from keys.errors import InvalidKey, KeysError
from keys.runtime import MemoryStore, ReplayCache
from keys.sm2 import SM2PrivateKey

URL = "https://idp.example.cn/oauth/token"
TOKEN = "eyJhbGciOiJFUzI1NiJ9.an-access-token.sig"


@pytest.fixture(scope="module")
def keys() -> dict:
    return {
        "ES256": generate_private_key("p256"),
        "SM2": SM2PrivateKey.generate(),
        "RS256": generate_private_key("rsa2048"),  # its jwk makes a header beyond joserfc's 512-byte default
    }


@pytest.fixture
def cache() -> ReplayCache:
    return ReplayCache(MemoryStore(), "dpop")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**extra) -> dict:
    return {"jti": "j-1", "htm": "POST", "htu": URL, "iat": int(time.time()), **extra}


def _verify(proof: str, cache: ReplayCache, **overrides):
    arguments = {"method": "POST", "url": URL, "replay_cache": cache, **overrides}
    return dpop.verify_proof(proof, **arguments)


# -- accepted proofs -------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["ES256", "SM2", "RS256"])
def test_a_valid_proof_is_accepted_and_reports_the_key_thumbprint(keys, cache, alg):
    key = keys[alg]
    jwk = jose.public_jwk(key.public_key(), use=None)
    proof = dpop.proof_for(key, jwk, "POST", URL)
    checked = _verify(proof, cache)
    assert checked.jkt == jose.jwk_thumbprint(jwk) and checked.jwk == jwk
    assert checked.iat <= time.time() and checked.jti
    assert jose.decode_header(proof)["alg"] == alg


def test_an_sm2_proof_signs_with_the_sm2_alg_and_its_crv(keys, cache):
    proof = dpop.proof_for(keys["SM2"], None, "GET", "https://seal.example.cn/api/seals")
    header = jose.decode_header(proof)
    assert (header["typ"], header["alg"], header["jwk"]["crv"]) == ("dpop+jwt", "SM2", "SM2")
    assert _verify(proof, cache, method="GET", url="https://seal.example.cn/api/seals").jkt


def test_a_matching_ath_is_accepted_when_a_token_is_presented(keys, cache):
    proof = dpop.proof_for(keys["ES256"], None, "GET", URL, access_token=TOKEN)
    assert _verify(proof, cache, method="GET", access_token=TOKEN).jti


def test_the_query_and_fragment_of_the_request_uri_are_ignored(keys, cache):
    proof = dpop.proof_for(keys["ES256"], None, "POST", URL)
    assert _verify(proof, cache, url=URL + "?grant_type=refresh_token#x").jti
    with_query = jose.sign_compact(
        {"typ": "dpop+jwt", "jwk": jose.public_jwk(keys["ES256"].public_key())},
        _claims(jti="j-q", htu=URL + "?a=1"),
        keys["ES256"],
    )
    assert _verify(with_query, cache).jti == "j-q"


def test_htu_is_compared_after_rfc3986_normalisation(keys, cache):
    spelled = "HTTPS://IDP.Example.CN:443/oauth/./x/../%74oken"
    proof = jose.sign_compact(
        {"typ": "dpop+jwt", "jwk": jose.public_jwk(keys["ES256"].public_key())}, _claims(htu=spelled), keys["ES256"]
    )
    assert _verify(proof, cache).jti == "j-1"
    assert dpop.normalize_htu("http://a.example:80/%7e%2f") == "http://a.example/~%2F"


def test_a_proof_within_the_future_leeway_is_accepted(keys, cache):
    proof = dpop.proof_for(keys["ES256"], None, "POST", URL, iat=int(time.time()) + 20)
    assert _verify(proof, cache).iat > time.time()


def test_the_right_nonce_is_accepted(keys, cache):
    proof = dpop.proof_for(keys["ES256"], None, "POST", URL, nonce="n-42")
    assert _verify(proof, cache, nonce="n-42").jti


# -- refused proofs --------------------------------------------------------------------------------


def test_a_replayed_proof_is_refused(keys, cache):
    proof = dpop.proof_for(keys["ES256"], None, "POST", URL)
    _verify(proof, cache)
    with pytest.raises(dpop.DpopError, match="already used"):
        _verify(proof, cache)


def test_a_refused_proof_does_not_use_up_its_jti(keys, cache):
    proof = dpop.proof_for(keys["ES256"], None, "POST", URL)
    with pytest.raises(dpop.DpopError, match="htm"):
        _verify(proof, cache, method="GET")
    assert _verify(proof, cache).jti


def test_a_proof_for_another_method_is_refused(keys, cache):
    proof = dpop.proof_for(keys["SM2"], None, "GET", URL)
    with pytest.raises(dpop.DpopError, match="htm 'GET'") as refused:
        _verify(proof, cache)
    assert refused.value.error == "invalid_dpop_proof" and isinstance(refused.value, KeysError)


@pytest.mark.parametrize(
    "url",
    [
        "https://idp.example.cn/oauth/userinfo",
        "http://idp.example.cn/oauth/token",
        "https://idp.example.cn:8443/oauth/token",
        "https://evil.example/oauth/token",
    ],
)
def test_a_proof_for_another_uri_is_refused(keys, cache, url):
    proof = dpop.proof_for(keys["ES256"], None, "POST", url)
    with pytest.raises(dpop.DpopError, match="htu"):
        _verify(proof, cache)


def test_a_stale_proof_is_refused(keys, cache):
    proof = dpop.proof_for(keys["ES256"], None, "POST", URL)
    with pytest.raises(dpop.DpopError, match="old"):
        _verify(proof, cache, now=time.time() + 301)


def test_a_proof_from_the_future_is_refused(keys, cache):
    proof = dpop.proof_for(keys["ES256"], None, "POST", URL, iat=int(time.time()) + 120)
    with pytest.raises(dpop.DpopError, match="future"):
        _verify(proof, cache)


def test_a_proof_whose_ath_is_for_another_token_is_refused(keys, cache):
    proof = dpop.proof_for(keys["ES256"], None, "GET", URL, access_token="another-token")
    with pytest.raises(dpop.DpopError, match="ath"):
        _verify(proof, cache, method="GET", access_token=TOKEN)


def test_a_proof_without_ath_is_refused_when_a_token_is_presented(keys, cache):
    proof = dpop.proof_for(keys["ES256"], None, "GET", URL)
    with pytest.raises(dpop.DpopError, match="no ath"):
        _verify(proof, cache, method="GET", access_token=TOKEN)


def test_a_private_key_in_the_jwk_header_is_refused(keys, cache):
    key = keys["ES256"]
    d = key.cryptography_key.private_numbers().private_value
    leaky = {**jose.public_jwk(key.public_key(), use=None), "d": _b64(d.to_bytes(32, "big"))}
    proof = jose.sign_compact({"typ": "dpop+jwt", "jwk": leaky}, _claims(), key)
    with pytest.raises(dpop.DpopError, match="private key"):
        _verify(proof, cache)
    with pytest.raises(InvalidKey):
        dpop.proof_for(key, leaky, "POST", URL)


def test_an_unsigned_alg_none_proof_is_refused(keys, cache):
    jwk = jose.public_jwk(keys["ES256"].public_key(), use=None)
    header = _b64(json.dumps({"typ": "dpop+jwt", "alg": "none", "jwk": jwk}).encode())
    proof = f"{header}.{_b64(json.dumps(_claims()).encode())}."
    with pytest.raises(dpop.DpopError, match="'none'"):
        _verify(proof, cache)


def test_an_hs256_proof_keyed_with_the_public_key_is_refused(keys, cache):
    jwk = jose.public_jwk(keys["ES256"].public_key(), use=None)
    signing_input = (
        f"{_b64(json.dumps({'typ': 'dpop+jwt', 'alg': 'HS256', 'jwk': jwk}).encode())}."
        f"{_b64(json.dumps(_claims()).encode())}"
    )
    mac = hmac.new(json.dumps(jwk).encode(), signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(dpop.DpopError, match="HS256"):
        _verify(f"{signing_input}.{_b64(mac)}", cache)
    with pytest.raises(ValueError):
        _verify(f"{signing_input}.{_b64(mac)}", cache, algorithms=("ES256", "HS256"))


@pytest.mark.parametrize("typ", ["JWT", "at+jwt", None])
def test_a_proof_with_the_wrong_typ_is_refused(keys, cache, typ):
    header = {"jwk": jose.public_jwk(keys["ES256"].public_key(), use=None)}
    if typ:
        header["typ"] = typ
    proof = jose.sign_compact(header, _claims(), keys["ES256"])
    with pytest.raises(dpop.DpopError, match="typ"):
        _verify(proof, cache)


def test_a_proof_signed_by_another_key_than_its_jwk_is_refused(keys, cache):
    honest = jose.public_jwk(keys["SM2"].public_key(), use=None)
    proof = dpop.proof_for(SM2PrivateKey.generate(), honest, "POST", URL)
    with pytest.raises(dpop.DpopError, match="does not verify"):
        _verify(proof, cache)


def test_an_alg_outside_the_allowed_list_is_refused(keys, cache):
    proof = dpop.proof_for(keys["SM2"], None, "POST", URL)
    with pytest.raises(dpop.DpopError, match="not accepted"):
        _verify(proof, cache, algorithms=("ES256",))


def test_a_missing_or_stale_nonce_asks_the_client_to_use_the_current_one(keys, cache):
    for sent in (None, "n-old"):
        proof = dpop.proof_for(keys["ES256"], None, "POST", URL, nonce=sent)
        with pytest.raises(dpop.DpopNonceError, match="nonce") as refused:
            _verify(proof, cache, nonce="n-42")
        assert refused.value.error == "use_dpop_nonce"


def test_two_proofs_in_one_header_are_refused(keys, cache):
    proof = dpop.proof_for(keys["ES256"], None, "POST", URL)
    with pytest.raises(dpop.DpopError, match="more than one"):
        _verify(f"{proof}, {proof}", cache)


def test_a_proof_that_is_not_a_jwt_is_refused(keys, cache):
    for proof in ("", "not-a-jwt", "a.b.c"):
        with pytest.raises(dpop.DpopError):
            _verify(proof, cache)


def test_a_request_uri_with_user_information_is_refused():
    with pytest.raises(dpop.DpopError, match="user information"):
        dpop.normalize_htu("https://user:pw@idp.example.cn/token")
