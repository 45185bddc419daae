"""Compact JWS/JWT: signing, verification against a JWK or a JWKS, and the OIDC half hash."""

from __future__ import annotations

import binascii
import json
from collections.abc import Sequence

from joserfc import errors as joserfc_errors
from joserfc import jws as joserfc_jws
from joserfc.jws import JWSRegistry

from keys.asymmetric import PrivateKey
from keys.digests import digest
from keys.errors import InvalidKey
from keys.jose.common import _MAX_HEADER_B64, SM2_ALG, SUPPORTED_ALGORITHMS, InvalidJWS, b64url, b64url_decode
from keys.jose.jwk import _check_public_jwk, alg_for_key
from keys.jose.sm2alg import _joserfc_public, _raw_signature

# -- signing ---------------------------------------------------------------------------------------


def _json_b64(value: dict) -> str:
    return b64url(json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8"))


def sign_compact(header: dict, claims: dict, private_key: PrivateKey) -> str:
    """A compact JWS of ``claims`` under ``header`` (its ``alg`` is set from the key).

    Signs through the key's own ``sign`` (a software key, or a PKCS#11 one that never leaves
    its token), so it works for every custody the keystore offers.
    """
    alg = alg_for_key(private_key)
    if header.get("alg", alg) != alg:
        raise InvalidKey(f"a {private_key.algorithm} key signs {alg}, not {header['alg']}")
    signing_input = f"{_json_b64({'alg': alg, **header})}.{_json_b64(claims)}"
    return f"{signing_input}.{b64url(_raw_signature(private_key, signing_input.encode('ascii')))}"


def sign_jwt(claims: dict, private_key: PrivateKey, kid: str, typ: str = "JWT") -> str:
    """A signed JWT: ES256, RS256 or SM2 as the key dictates; ``kid`` names the key in our JWKS."""
    return sign_compact({"alg": alg_for_key(private_key), "kid": kid, "typ": typ}, claims, private_key)


# -- verification ----------------------------------------------------------------------------------


def check_algorithms(algorithms: Sequence[str]) -> None:
    """Refuse a caller's allow-list naming anything but ES256/RS256/SM2 (a configuration error)."""
    if isinstance(algorithms, str) or not algorithms:
        raise ValueError("algorithms must be a non-empty list of JWS alg names")
    bad = [alg for alg in algorithms if alg not in SUPPORTED_ALGORITHMS]
    if bad:
        raise ValueError(f"algorithms {bad} are not accepted here; choose from {', '.join(SUPPORTED_ALGORITHMS)}")


def decode_header(token: str) -> dict:
    """The protected header of a compact JWS, UNVERIFIED (for choosing a key); raises :class:`InvalidJWS`."""
    if not isinstance(token, str) or token.count(".") != 2:
        raise InvalidJWS("not a compact JWS (three base64url parts separated by '.')")
    segment = token.split(".", 1)[0]
    if len(segment) > _MAX_HEADER_B64:
        raise InvalidJWS(f"the JWS header is longer than {_MAX_HEADER_B64} characters")
    try:
        header = json.loads(b64url_decode(segment))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidJWS("the JWS header is not base64url JSON") from exc
    if not isinstance(header, dict) or not isinstance(header.get("alg"), str):
        raise InvalidJWS("the JWS header is not a JSON object with an alg")
    return header


def _check_header(header: dict, algorithms: Sequence[str]) -> str:
    alg = header["alg"]
    if alg.lower() == "none":
        raise InvalidJWS("alg 'none' (an unsigned token) is never accepted")
    if alg.upper().startswith("HS"):
        raise InvalidJWS(f"alg {alg!r} is refused: symmetric (HMAC) algorithms are never accepted")
    if alg not in SUPPORTED_ALGORITHMS:
        raise InvalidJWS(f"alg {alg!r} is not supported (only {', '.join(SUPPORTED_ALGORITHMS)})")
    if alg not in algorithms:
        raise InvalidJWS(f"alg {alg!r} is not allowed here (allowed: {', '.join(algorithms)})")
    if "crit" in header or "b64" in header:
        raise InvalidJWS("the JWS uses extensions ('crit'/'b64') that are not supported")
    return alg


def _verify_with(token: str, key, alg: str) -> dict:
    """Verify the signature with one joserfc key; the claims as a dict."""
    registry = JWSRegistry(algorithms=[alg], strict_check_header=False)
    registry.max_header_length = _MAX_HEADER_B64
    try:
        payload = joserfc_jws.deserialize_compact(token, key, registry=registry).payload
    except joserfc_errors.BadSignatureError as exc:
        raise InvalidJWS(f"the {alg} signature does not verify") from exc
    except (joserfc_errors.JoseError, ValueError) as exc:
        raise InvalidJWS(f"the JWS is refused: {exc.__class__.__name__}: {exc}") from exc
    try:
        claims = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidJWS("the JWS payload is not JSON") from exc
    if not isinstance(claims, dict):
        raise InvalidJWS("the JWT claims are not a JSON object")
    return claims


def verify_with_jwk(token: str, jwk: dict, algorithms: Sequence[str]) -> tuple[dict, dict]:
    """(header, claims) of a JWS signed by the key ``jwk`` (e.g. a DPoP proof's own jwk header)."""
    check_algorithms(algorithms)
    header = decode_header(token)
    alg = _check_header(header, algorithms)
    try:
        implied = _check_public_jwk(jwk)
        if implied != alg:
            raise InvalidJWS(f"alg {alg} does not fit a {jwk.get('kty')} {jwk.get('crv', '')} key".rstrip())
        key = _joserfc_public(jwk, implied)
    except InvalidKey as exc:
        raise InvalidJWS(f"the verification key is refused: {exc}") from exc
    return header, _verify_with(token, key, alg)


def _candidates(keys: list[dict], kid: str | None, alg: str) -> list[dict]:
    """The JWKS entries that may have signed: matching kid (if any), use sig, type fitting alg."""
    named = [k for k in keys if isinstance(k, dict) and (kid is None or k.get("kid") == kid)]
    if not named:
        raise InvalidJWS(f"no key with kid {kid!r} in the key set")
    fitting = []
    for jwk in named:
        try:
            fits = _check_public_jwk(jwk) == alg and jwk.get("use", "sig") == "sig"
        except InvalidKey as exc:
            if kid is not None:
                raise InvalidJWS(f"key {kid!r} is not usable: {exc}") from exc
            continue
        if fits:
            fitting.append(jwk)
    if not fitting:
        kinds = ", ".join(sorted({f"{k.get('kty')} {k.get('crv', '')}".strip() for k in named}))
        raise InvalidJWS(f"alg {alg} does not fit the key(s) for kid {kid!r} ({kinds})")
    return fitting


def verify_jwt(token: str, keys: list[dict] | dict, algorithms: Sequence[str]) -> tuple[dict, dict]:
    """(header, claims) of a JWT signed by one of ``keys`` (a JWKS's ``"keys"``) with an allowed alg.

    Keys come only from ``keys``: embedded ``jwk``/``jku``/``x5u``/``x5c`` headers are ignored.
    Validating the claims (:func:`check_claims`) and ``typ`` is the caller's business.
    """
    check_algorithms(algorithms)
    if isinstance(keys, dict):  # a whole JWKS passed by mistake is still unambiguous
        keys = keys.get("keys", [])
    header = decode_header(token)
    alg = _check_header(header, algorithms)
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise InvalidJWS("the kid header is not a string")
    failure: InvalidJWS | None = None
    for jwk in _candidates(keys, kid, alg):  # several only without a kid, or with duplicate kids
        try:
            return header, _verify_with(token, _joserfc_public(jwk, alg), alg)
        except (InvalidJWS, InvalidKey) as exc:
            failure = exc if isinstance(exc, InvalidJWS) else InvalidJWS(f"key {jwk.get('kid')!r}: {exc}")
    assert failure is not None
    raise failure


def half_hash(value: str, alg: str) -> str:
    """OIDC ``at_hash``/``c_hash`` (OIDC Core §3.1.3.6): left half of the alg's hash, base64url.

    The hash is the one the alg signs with: SHA-256 for ES256/RS256, SM3 for SM2. (Authlib's
    ``create_half_hash`` derives "sha2" from "SM2", finds no such hash and silently omits it.)
    """
    if alg not in SUPPORTED_ALGORITHMS:
        raise ValueError(f"no half hash for alg {alg!r}")
    hashed = digest("sm3" if alg == SM2_ALG else "sha256", value.encode("ascii"))
    return b64url(hashed[: len(hashed) // 2])
