"""Names, errors and base64url helpers shared by the JOSE modules."""

from __future__ import annotations

import base64
import binascii

from keys.errors import InvalidKey, InvalidSignature, KeysError

SM2_ALG = "SM2"
SM2_CRV = "SM2"
SUPPORTED_ALGORITHMS = ("ES256", "RS256", SM2_ALG)
_ALG_BY_KEY = {"p256": "ES256", "rsa2048": "RS256", "rsa3072": "RS256", "sm2": SM2_ALG}
PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})  # RFC 7518 §6.2.2, §6.3.2, §6.4
_MAX_HEADER_B64 = 4096  # joserfc's 512 is too small for a DPoP header carrying an RSA-3072 jwk
_MIN_RSA_BITS = 2048


class JoseError(KeysError):
    """A JOSE object or its claims were refused; the message says why."""


class InvalidJWS(JoseError, InvalidSignature):
    """The JWS itself is refused: malformed, algorithm not acceptable, no fitting key, bad signature."""


class InvalidClaims(JoseError):
    """The signature is good but the claims are not acceptable (iss, aud, exp, nbf, iat)."""


# -- base64url and JWK members -------------------------------------------------------------------


def b64url(data: bytes) -> str:
    """BASE64URL without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict inverse of :func:`b64url`: no padding, no '+' or '/', no stray bits."""
    if not isinstance(text, str) or "=" in text or len(text) % 4 == 1:
        raise ValueError("not base64url without padding")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url(data) != text:  # non-canonical trailing bits would give two spellings of one value
        raise ValueError("not canonical base64url")
    return data


def _uint_b64(value: int, length: int | None = None) -> str:
    length = length or max(1, (value.bit_length() + 7) // 8)
    return b64url(value.to_bytes(length, "big"))


def _member_uint(jwk: dict, name: str, length: int | None = None) -> int:
    try:
        raw = b64url_decode(jwk[name])
    except (KeyError, ValueError, binascii.Error) as exc:
        raise InvalidKey(f"JWK member {name!r} is missing or not base64url") from exc
    if length is not None and len(raw) != length:
        raise InvalidKey(f"JWK member {name!r} must be {length} bytes, not {len(raw)}")
    return int.from_bytes(raw, "big")
