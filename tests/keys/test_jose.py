"""keys/jose/: JWKs, thumbprints, and JWTs signed with ES256, RS256 and SM2 that other JOSE
implementations (joserfc, Authlib) accept, and the forgeries every verifier must refuse."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import warnings
from datetime import UTC, datetime

import pytest
from joserfc import errors as joserfc_errors
from joserfc import jwt as joserfc_jwt
from joserfc.jwk import ECKey, KeySet, import_key

from keys import jose
from keys.asymmetric import generate_private_key
from keys.errors import InvalidKey, InvalidSignature, KeysError
from keys.keystore import KeyRecord
from keys.sm2 import SM2PrivateKey, SM2PublicKey, curve
from keys.sm3 import sm3

ISSUER = "https://idp.example.cn"
AUDIENCE = "https://idp.example.cn/seal"
BACKENDS = ("native", "pure")


@pytest.fixture(scope="module")
def signers() -> dict:
    """One real key per JWS algorithm, with its kid and public JWK."""
    out = {}
    for name, key in (
        ("ES256", generate_private_key("p256")),
        ("RS256", generate_private_key("rsa2048")),
        ("SM2", SM2PrivateKey.generate(backend="native")),
    ):
        kid = f"kid-{name.lower()}"
        out[name] = (key, kid, jose.public_jwk(key.public_key(), kid))
    return out


def _claims(**extra) -> dict:
    now = int(time.time())
    return {"iss": ISSUER, "aud": AUDIENCE, "sub": "u-1", "iat": now, "exp": now + 300, "name": "张三", **extra}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forge(header: dict, claims: dict, signature: bytes = b"") -> str:
    """A compact JWS assembled by hand (how an attacker would build one)."""
    head = _b64(json.dumps(header).encode())
    body = _b64(json.dumps(claims).encode())
    return f"{head}.{body}.{_b64(signature)}"


# -- JWKs ------------------------------------------------------------------------------------------


def test_p256_public_jwk_has_the_rfc7518_ec_members_and_alg_es256(signers):
    key, kid, jwk = signers["ES256"]
    numbers = key.public_key().cryptography_key.public_numbers()
    assert jwk == {
        "kty": "EC",
        "crv": "P-256",
        "x": _b64(numbers.x.to_bytes(32, "big")),
        "y": _b64(numbers.y.to_bytes(32, "big")),
        "alg": "ES256",
        "use": "sig",
        "kid": kid,
    }


def test_rsa_public_jwk_has_n_and_e_and_alg_rs256(signers):
    key, _kid, jwk = signers["RS256"]
    numbers = key.public_key().cryptography_key.public_numbers()
    assert (jwk["kty"], jwk["alg"], jwk["e"]) == ("RSA", "RS256", "AQAB")
    assert int.from_bytes(base64.urlsafe_b64decode(jwk["n"] + "=="), "big") == numbers.n


def test_sm2_public_jwk_uses_crv_sm2_and_32_byte_unpadded_coordinates(signers):
    key, _kid, jwk = signers["SM2"]
    x, y = key.public_key().point()
    assert (jwk["kty"], jwk["crv"], jwk["alg"]) == ("EC", "SM2", jose.SM2_ALG)
    assert jwk["x"] == _b64(x.to_bytes(32, "big")) and jwk["y"] == _b64(y.to_bytes(32, "big"))
    assert len(jwk["x"]) == len(jwk["y"]) == 43 and "=" not in jwk["x"] + jwk["y"]


@pytest.mark.parametrize("alg", ["ES256", "RS256", "SM2"])
def test_a_public_jwk_converts_back_to_the_same_public_key(signers, alg):
    key, _kid, jwk = signers[alg]
    assert jose.jwk_to_public_key(jwk) == key.public_key()


@pytest.mark.parametrize("alg", ["ES256", "RS256", "SM2"])
def test_a_jwk_with_private_members_is_refused(signers, alg):
    jwk = {**signers[alg][2], "d": _b64(b"\x01" * 32)}
    with pytest.raises(InvalidKey, match="private"):
        jose.jwk_to_public_key(jwk)


@pytest.mark.parametrize(
    "jwk",
    [
        {"kty": "OKP", "crv": "Ed25519", "x": _b64(b"\x00" * 32)},
        {"kty": "EC", "crv": "P-384", "x": _b64(b"\x00" * 48), "y": _b64(b"\x00" * 48)},
        {"kty": "oct", "k": _b64(b"secret")},
        "not a JWK",
    ],
)
def test_a_jwk_of_an_unknown_type_or_curve_is_refused(jwk):
    with pytest.raises(InvalidKey):
        jose.jwk_to_public_key(jwk)


def test_a_jwk_whose_alg_contradicts_its_key_type_is_refused(signers):
    with pytest.raises(InvalidKey, match="alg 'RS256'"):
        jose.jwk_to_public_key({**signers["SM2"][2], "alg": "RS256"})


def test_an_sm2_jwk_off_the_curve_or_with_short_coordinates_is_refused(signers):
    jwk = signers["SM2"][2]
    with pytest.raises(InvalidKey):
        jose.jwk_to_public_key({**jwk, "y": jwk["x"]})
    with pytest.raises(InvalidKey, match="32 bytes"):
        jose.jwk_to_public_key({**jwk, "x": _b64(b"\x01" * 31)})


def test_thumbprint_matches_the_rfc7638_example():
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiF"
        "V4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7"
        "d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-"
        "csFCur-kEgU8awapJzKnqDKgw"
    )
    jwk = {"kty": "RSA", "n": n, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"}
    assert jose.jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"  # RFC 7638 §3.1


@pytest.mark.parametrize("alg", ["ES256", "RS256", "SM2"])
def test_thumbprint_uses_required_members_only_and_agrees_with_joserfc(signers, alg):
    jwk = signers[alg][2]
    bare = {k: v for k, v in jwk.items() if k not in ("alg", "use", "kid")}
    assert jose.jwk_thumbprint(jwk) == jose.jwk_thumbprint(bare)
    assert jose.jwk_thumbprint(jwk) == KeySet.import_key_set({"keys": [jwk]}).keys[0].thumbprint()


def test_jwks_publishes_every_keystore_record_with_its_kid(signers):
    now = datetime.now(UTC)
    blank = dict.fromkeys(("owner", "activate_at", "retire_at", "retired_at"))
    records = [
        KeyRecord(
            kid=kid,
            algorithm=key.algorithm,
            purpose="token",
            state="active",
            custody="software",
            public_key_der=key.public_key().public_bytes_der(),
            created_at=now,
            activated_at=now,
            **blank,
        )
        for key, kid, _jwk in signers.values()
    ]
    assert jose.jwks(records) == {"keys": [jwk for _key, _kid, jwk in signers.values()]}


# -- interoperability ------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_our_tokens_verify_with_joserfc_and_with_authlib(signers, alg):
    key, kid, jwk = signers[alg]
    token = jose.sign_jwt(_claims(), key, kid, typ="at+jwt")
    decoded = joserfc_jwt.decode(token, KeySet.import_key_set({"keys": [jwk]}), algorithms=[alg])
    assert decoded.header == {"alg": alg, "kid": kid, "typ": "at+jwt"} and decoded.claims["name"] == "张三"
    from authlib.deprecate import AuthlibDeprecationWarning  # first, or its "always" filter beats ours

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AuthlibDeprecationWarning)  # deprecated, but Authlib's own verifier
        from authlib.jose import JsonWebKey, JsonWebToken

        claims = JsonWebToken([alg]).decode(token, JsonWebKey.import_key(jwk))
    claims.validate()
    assert claims["sub"] == "u-1"


def test_a_joserfc_es256_token_verifies_here():
    key = ECKey.generate_key("P-256", parameters={"kid": "theirs"})
    token = joserfc_jwt.encode({"alg": "ES256", "kid": "theirs"}, _claims(), key, algorithms=["ES256"])
    header, claims = jose.verify_jwt(token, [key.as_dict()], algorithms=["ES256"])
    assert header["kid"] == "theirs" and claims["iss"] == ISSUER


@pytest.mark.parametrize(("signer", "verifier"), [("native", "pure"), ("pure", "native")])
def test_sm2_tokens_verify_across_both_backends(monkeypatch, signer, verifier):
    key = SM2PrivateKey.generate(backend=signer)
    jwk = jose.public_jwk(key.public_key(), "k1")
    token = jose.sign_jwt(_claims(), key, "k1")
    monkeypatch.setenv("YITONG_SM2_BACKEND", verifier)
    assert jose.jwk_to_public_key(jwk).backend_name == verifier
    header, claims = jose.verify_jwt(token, [jwk], algorithms=["SM2"])
    assert header["alg"] == "SM2" and claims["name"] == "张三"


@pytest.mark.parametrize("verifier", BACKENDS)
def test_an_sm2_signature_is_raw_r_s_over_the_signing_input_with_the_default_id(signers, verifier):
    key, kid, _jwk = signers["SM2"]
    token = jose.sign_jwt(_claims(), key, kid)
    head, body, sig = token.split(".")
    raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    assert len(raw) == 64  # r ‖ s, 32 bytes each, as ES256 (RFC 7518 §3.4), not DER
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    x, y = key.public_key().point()
    SM2PublicKey(x, y, backend=verifier).verify(curve.encode_signature(r, s), f"{head}.{body}".encode())


def test_joserfc_signs_and_verifies_sm2_once_keys_jose_is_imported(signers):
    key, kid, jwk = signers["SM2"]
    theirs = joserfc_jwt.encode({"alg": "SM2", "kid": kid}, _claims(), jose.joserfc_key(key, kid), algorithms=["SM2"])
    assert jose.verify_jwt(theirs, [jwk], algorithms=["SM2"])[1]["sub"] == "u-1"
    ours = jose.sign_jwt(_claims(), key, kid)
    key_set = KeySet.import_key_set({"keys": [jwk, *(signers[a][2] for a in ("ES256", "RS256"))]})
    assert joserfc_jwt.decode(ours, key_set, algorithms=["SM2"]).claims["name"] == "张三"


def test_joserfc_imports_sm2_keys_from_a_jwks_or_pem_and_skips_broken_ones(signers):
    key, kid, jwk = signers["SM2"]
    off_curve = {**jwk, "kid": "broken", "y": jwk["x"]}
    key_set = KeySet.import_key_set({"keys": [jwk, off_curve, signers["ES256"][2]]})
    assert [k.kid for k in key_set.keys] == [kid, "kid-es256"]  # not a KeyError for the whole set
    assert isinstance(key_set.keys[0], jose.SM2JWK) and type(key_set.keys[1]) is ECKey
    assert import_key(key.public_key().public_bytes_pem(), "EC").as_dict()["x"] == jwk["x"]


def test_joserfc_never_picks_sm2_unless_asked_and_refuses_it_with_a_p256_key(signers):
    key, kid, _jwk = signers["SM2"]
    token = jose.sign_jwt(_claims(), key, kid)
    bare_p256 = {k: v for k, v in signers["ES256"][2].items() if k not in ("alg", "kid")}
    with pytest.raises(joserfc_errors.UnsupportedAlgorithmError, match="not recommended"):
        joserfc_jwt.decode(token, KeySet.import_key_set({"keys": [signers["SM2"][2]]}))
    with pytest.raises(joserfc_errors.InvalidKeyCurveError, match="needs an SM2 key"):
        joserfc_jwt.decode(token, ECKey.import_key(bare_p256), algorithms=["SM2"])


def test_authlib_generates_an_sm2_id_token_through_the_registered_algorithm(signers):
    from authlib.oidc.core.grants.util import generate_id_token

    key, kid, jwk = signers["SM2"]
    token = generate_id_token({}, {"sub": "u-1"}, jose.joserfc_key(key, kid), ISSUER, "client-1", alg="SM2", kid=kid)
    header, claims = jose.verify_jwt(token, [jwk], algorithms=["SM2"])
    assert header["alg"] == "SM2" and claims["aud"] == "client-1"
    jose.check_claims(claims, issuer=ISSUER, audience="client-1")


def test_half_hash_uses_sm3_for_sm2_and_sha256_otherwise():
    assert jose.half_hash("abc", "SM2") == _b64(sm3(b"abc")[:16])
    assert jose.half_hash("abc", "ES256") == _b64(hashlib.sha256(b"abc").digest()[:16])


# -- refusals --------------------------------------------------------------------------------------


def test_alg_none_is_refused_even_with_a_matching_kid(signers):
    token = _forge({"alg": "none", "kid": "kid-es256"}, _claims())
    with pytest.raises(jose.InvalidJWS, match="none"):
        jose.verify_jwt(token, [signers["ES256"][2]], algorithms=["ES256"])
    with pytest.raises(ValueError, match="not accepted"):
        jose.verify_jwt(token, [signers["ES256"][2]], algorithms=["none"])


@pytest.mark.parametrize("alg", ["ES256", "RS256", "SM2"])
def test_hs256_signed_with_the_public_key_as_secret_is_refused(signers, alg):
    key, kid, jwk = signers[alg]
    head = _b64(json.dumps({"alg": "HS256", "kid": kid}).encode())
    body = _b64(json.dumps(_claims()).encode())
    for secret in (key.public_key().public_bytes_pem(), key.public_key().public_bytes_der(), json.dumps(jwk).encode()):
        mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
        with pytest.raises(jose.InvalidJWS, match="HMAC"):
            jose.verify_jwt(f"{head}.{body}.{_b64(mac)}", [jwk], algorithms=[alg])
    with pytest.raises(ValueError):
        jose.verify_jwt(f"{head}.{body}.{_b64(mac)}", [jwk], algorithms=["HS256"])


def test_a_token_whose_kid_is_not_in_the_key_set_is_refused(signers):
    key, _kid, jwk = signers["ES256"]
    token = jose.sign_jwt(_claims(), key, "rotated-away")
    with pytest.raises(jose.InvalidJWS, match="no key with kid 'rotated-away'"):
        jose.verify_jwt(token, [jwk], algorithms=["ES256"])


@pytest.mark.parametrize("alg", ["ES256", "RS256", "SM2"])
def test_a_tampered_payload_is_refused(signers, alg):
    key, kid, jwk = signers[alg]
    head, _body, sig = jose.sign_jwt(_claims(), key, kid).split(".")
    forged_body = _b64(json.dumps(_claims(sub="admin")).encode())
    with pytest.raises(jose.InvalidJWS, match="does not verify") as refused:
        jose.verify_jwt(f"{head}.{forged_body}.{sig}", [jwk], algorithms=[alg])
    assert isinstance(refused.value, InvalidSignature) and isinstance(refused.value, KeysError)


@pytest.mark.parametrize(("signed_with", "claimed_key"), [("ES256", "SM2"), ("SM2", "ES256"), ("RS256", "ES256")])
def test_an_alg_that_does_not_fit_the_named_key_is_refused(signers, signed_with, claimed_key):
    key = signers[signed_with][0]
    _key, kid, jwk = signers[claimed_key]
    token = jose.sign_jwt(_claims(), key, kid)  # header alg from the signing key, kid of another type
    with pytest.raises(jose.InvalidJWS, match="does not fit"):
        jose.verify_jwt(token, [jwk], algorithms=["ES256", "RS256", "SM2"])


def test_an_alg_outside_the_callers_list_is_refused(signers):
    key, kid, jwk = signers["RS256"]
    with pytest.raises(jose.InvalidJWS, match="not allowed here"):
        jose.verify_jwt(jose.sign_jwt(_claims(), key, kid), [jwk], algorithms=["ES256", "SM2"])


def test_a_signature_by_another_key_under_the_same_kid_is_refused(signers):
    _key, kid, jwk = signers["SM2"]
    impostor = SM2PrivateKey.generate()
    with pytest.raises(jose.InvalidJWS, match="does not verify"):
        jose.verify_jwt(jose.sign_jwt(_claims(), impostor, kid), [jwk], algorithms=["SM2"])


def test_an_sm2_signature_in_der_as_java_jwt_signers_emit_is_refused(signers):
    key, kid, jwk = signers["SM2"]
    head, body, _sig = jose.sign_jwt(_claims(), key, kid).split(".")
    der = key.sign(f"{head}.{body}".encode())
    with pytest.raises(jose.InvalidJWS, match="does not verify"):
        jose.verify_jwt(f"{head}.{body}.{_b64(der)}", [jwk], algorithms=["SM2"])


def test_crit_and_unencoded_payload_headers_are_refused(signers):
    key, kid, jwk = signers["ES256"]
    for extra in ({"crit": ["exp"], "exp": 1}, {"b64": False, "crit": ["b64"]}):
        token = jose.sign_compact({"kid": kid, **extra}, _claims(), key)
        with pytest.raises(jose.InvalidJWS, match="extensions"):
            jose.verify_jwt(token, [jwk], algorithms=["ES256"])


def test_malformed_tokens_are_refused_with_invalid_jws(signers):
    jwk = signers["ES256"][2]
    for token in ("", "a.b", "a.b.c.d.e", "!!.e30.", _b64(b"[1]") + ".e30.", 42):
        with pytest.raises(jose.InvalidJWS):
            jose.verify_jwt(token, [jwk], algorithms=["ES256"])


def test_a_token_without_kid_verifies_when_one_key_fits(signers):
    key, _kid, _jwk = signers["ES256"]
    token = jose.sign_compact({"typ": "JWT"}, _claims(), key)
    keys = [signers[alg][2] for alg in ("SM2", "RS256", "ES256")]
    assert jose.verify_jwt(token, keys, algorithms=["ES256"])[1]["sub"] == "u-1"


def test_a_key_marked_for_encryption_is_not_used_to_verify(signers):
    key, kid, jwk = signers["ES256"]
    with pytest.raises(jose.InvalidJWS, match="does not fit"):
        jose.verify_jwt(jose.sign_jwt(_claims(), key, kid), [{**jwk, "use": "enc"}], algorithms=["ES256"])


def test_signing_refuses_a_header_alg_the_key_cannot_make(signers):
    with pytest.raises(InvalidKey, match="signs SM2"):
        jose.sign_compact({"alg": "ES256"}, _claims(), signers["SM2"][0])


# -- claims ----------------------------------------------------------------------------------------


def test_good_claims_pass_with_a_single_or_a_list_audience():
    jose.check_claims(_claims(), issuer=ISSUER, audience=AUDIENCE)
    jose.check_claims(_claims(aud=["other", AUDIENCE]), issuer=ISSUER, audience=AUDIENCE)
    assert jose.check_claims(_claims(), issuer=ISSUER, audience=AUDIENCE, now=datetime.now(UTC)) is None


def test_an_expired_token_is_refused_after_the_leeway():
    claims = _claims()
    jose.check_claims(claims, issuer=ISSUER, audience=AUDIENCE, now=claims["exp"] + 29)
    with pytest.raises(jose.InvalidClaims, match="expired"):
        jose.check_claims(claims, issuer=ISSUER, audience=AUDIENCE, now=claims["exp"] + 30)


def test_a_token_for_another_audience_is_refused():
    with pytest.raises(jose.InvalidClaims, match="audience"):
        jose.check_claims(_claims(aud="https://elsewhere.example"), issuer=ISSUER, audience=AUDIENCE)
    with pytest.raises(jose.InvalidClaims, match="audience"):
        jose.check_claims({k: v for k, v in _claims().items() if k != "aud"}, issuer=ISSUER, audience=AUDIENCE)


def test_a_token_from_another_issuer_is_refused():
    with pytest.raises(jose.InvalidClaims, match="issuer"):
        jose.check_claims(_claims(iss="https://evil.example"), issuer=ISSUER, audience=AUDIENCE)


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_a_token_not_yet_valid_or_issued_in_the_future_is_refused(claim):
    with pytest.raises(jose.InvalidClaims, match=r"future|before"):
        jose.check_claims(_claims(**{claim: int(time.time()) + 120}), issuer=ISSUER, audience=AUDIENCE)


def test_missing_or_non_numeric_exp_is_refused():
    with pytest.raises(jose.InvalidClaims, match="missing"):
        jose.check_claims({"iss": ISSUER, "aud": AUDIENCE}, issuer=ISSUER, audience=AUDIENCE)
    with pytest.raises(jose.InvalidClaims, match="NumericDate"):
        jose.check_claims(_claims(exp="tomorrow"), issuer=ISSUER, audience=AUDIENCE)
    with pytest.raises(jose.InvalidClaims, match="NumericDate"):
        jose.check_claims(_claims(exp=True), issuer=ISSUER, audience=AUDIENCE)
