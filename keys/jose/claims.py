"""The claims checks every JWT verifier needs (exp, nbf, iat, iss, aud)."""

from __future__ import annotations

import time
from datetime import datetime

from keys.jose.common import InvalidClaims

# -- claims ----------------------------------------------------------------------------------------


def _numeric_date(claims: dict, name: str, required: bool) -> float | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise InvalidClaims(f"the {name} claim is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidClaims(f"the {name} claim is not a NumericDate (RFC 7519 §2)")
    return float(value)


def check_claims(
    claims: dict, *, issuer: str, audience: str, now: float | datetime | None = None, leeway: float = 30
) -> None:
    """RFC 7519 §4.1 checks: iss equals ``issuer``, ``audience`` is in aud, exp in the future,
    nbf and iat not in the future (each with ``leeway`` seconds); raises :class:`InvalidClaims`."""
    if isinstance(now, datetime):
        now = now.timestamp()
    now = time.time() if now is None else float(now)
    if claims.get("iss") != issuer:
        raise InvalidClaims(f"iss {claims.get('iss')!r} is not the expected issuer {issuer!r}")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud
    if not isinstance(audiences, list) or audience not in audiences:
        raise InvalidClaims(f"the token is not for audience {audience!r} (aud is {aud!r})")
    exp = _numeric_date(claims, "exp", required=True)
    if now >= exp + leeway:
        raise InvalidClaims(f"the token expired at {int(exp)} ({int(now - exp)} s ago)")
    nbf = _numeric_date(claims, "nbf", required=False)
    if nbf is not None and now + leeway < nbf:
        raise InvalidClaims(f"the token is not valid before {int(nbf)}")
    iat = _numeric_date(claims, "iat", required=False)
    if iat is not None and now + leeway < iat:
        raise InvalidClaims(f"the token was issued in the future (iat {int(iat)})")
