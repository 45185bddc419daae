"""JWKs (RFC 7517/7518 §6): our public keys as JWKs, back again, thumbprints (RFC 7638), JWKS."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from keys.asymmetric import PrivateKey, PublicKey, load_public_key
from keys.errors import InvalidKey
from keys.jose.common import _ALG_BY_KEY, PRIVATE_JWK_MEMBERS, SM2_ALG, SM2_CRV, _member_uint, _uint_b64, b64url
from keys.jose.sm2alg import _joserfc_public
from keys.sm2 import SM2PublicKey

# -- JWKs ------------------------------------------------------------------------------------------


def alg_for_key(key: PublicKey | PrivateKey) -> str:
    """The JWS alg our key of this algorithm signs with: ES256, RS256 or SM2."""
    try:
        return _ALG_BY_KEY[key.algorithm]
    except (AttributeError, KeyError) as exc:
        raise InvalidKey(f"no JWS algorithm for key {key!r}") from exc


def public_jwk(public_key: PublicKey, kid: str | None = None, use: str | None = "sig") -> dict:
    """The public JWK of one of our keys (RFC 7518 §6.2/§6.3; SM2 as ``"crv": "SM2"``)."""
    alg = alg_for_key(public_key)
    if isinstance(public_key, SM2PublicKey):
        x, y = public_key.point()
        jwk = {"kty": "EC", "crv": SM2_CRV, "x": _uint_b64(x, 32), "y": _uint_b64(y, 32)}
    else:
        native = serialization.load_der_public_key(public_key.public_bytes_der())
        if isinstance(native, ec.EllipticCurvePublicKey):
            numbers = native.public_numbers()
            jwk = {"kty": "EC", "crv": "P-256", "x": _uint_b64(numbers.x, 32), "y": _uint_b64(numbers.y, 32)}
        else:
            numbers = native.public_numbers()
            jwk = {"kty": "RSA", "n": _uint_b64(numbers.n), "e": _uint_b64(numbers.e)}
    jwk["alg"] = alg
    if use:
        jwk["use"] = use
    if kid:
        jwk["kid"] = kid
    return jwk


def _check_public_jwk(jwk: Any) -> str:
    """Shape checks shared by every JWK import; returns the alg the key's type implies."""
    if not isinstance(jwk, dict):
        raise InvalidKey("a JWK must be a JSON object")
    private = sorted(PRIVATE_JWK_MEMBERS & jwk.keys())
    if private:
        raise InvalidKey(f"the JWK holds private key members {private}; only public keys are accepted")
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if kty == "EC" and crv in ("P-256", SM2_CRV):
        implied = "ES256" if crv == "P-256" else SM2_ALG
    elif kty == "RSA":
        implied = "RS256"
    else:
        raise InvalidKey(f"unsupported JWK kty={kty!r} crv={crv!r} (EC P-256, EC SM2 and RSA only)")
    if "alg" in jwk and jwk["alg"] != implied:
        raise InvalidKey(f"the JWK says alg {jwk['alg']!r} but a {kty} {crv or ''} key signs {implied}".rstrip())
    return implied


def jwk_to_public_key(jwk: dict) -> PublicKey:
    """Our public key for a public JWK (inverse of :func:`public_jwk`); raises :class:`keys.InvalidKey`."""
    implied = _check_public_jwk(jwk)
    if implied == SM2_ALG:
        return SM2PublicKey(_member_uint(jwk, "x", 32), _member_uint(jwk, "y", 32))
    return load_public_key(_joserfc_public(jwk, implied).as_der())


def jwk_thumbprint(jwk: dict) -> str:
    """RFC 7638 §3 SHA-256 thumbprint: required members only, sorted, no whitespace, base64url."""
    kty = jwk.get("kty") if isinstance(jwk, dict) else None
    members = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}.get(kty)
    if members is None:
        raise InvalidKey(f"no thumbprint for JWK kty {kty!r} (EC and RSA only)")
    if not all(isinstance(jwk.get(name), str) for name in members):
        raise InvalidKey(f"a {kty} JWK needs string members {', '.join(members)}")
    canonical = json.dumps({name: jwk[name] for name in members}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def jwks(records: Iterable) -> dict:
    """``{"keys": [...]}`` for keystore records (anything with ``kid`` and ``public_key()``)."""
    return {"keys": [public_jwk(record.public_key(), record.kid) for record in records]}
