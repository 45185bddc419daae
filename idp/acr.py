"""Authentication context (``acr``) requests: ``acr_values`` and the ``claims`` parameter's ``acr``.

Levels are ordered (DESIGN.md): ``urn:yitong:loa:1`` < ``:2`` < ``:3`` < ``:4``. A request names
the levels it accepts (``acr_values``, OIDC Core §3.1.2.1, or ``claims={"id_token": {"acr":
{"values": [...]}}}``, §5.5.1.1); any level at least as high as the lowest one named satisfies it,
since a stronger level implies the weaker ones. Yitong never answers a request with a silently
lower ``acr``: when the sign-in does not reach the level asked for and the person cannot be
stepped up here, the client gets ``unmet_authentication_requirements`` (OpenID Connect Core
Unmet Authentication Requirements 1.0) — an RP should not have to re-check ``acr`` to be safe,
although it should. Requests naming only unknown levels are answered the same way.
"""

from __future__ import annotations

import json

from authlib.oauth2.base import OAuth2Error

LOA_1, LOA_2, LOA_3, LOA_4 = LEVELS = tuple(f"urn:yitong:loa:{n}" for n in (1, 2, 3, 4))
_RANK = {level: rank for rank, level in enumerate(LEVELS, start=1)}


class UnmetAuthenticationRequirementsError(OAuth2Error):
    error = "unmet_authentication_requirements"


def rank(acr: str | None) -> int:
    """1–4 for our levels, 0 for anything else (including none)."""
    return _RANK.get(acr or "", 0)


def requested_levels(args) -> list[str]:
    """Every level a request names, from ``acr_values`` and the ``claims`` parameter."""
    values = args.get("acr_values", "").split()
    raw = args.get("claims")
    if raw:
        try:
            acr = json.loads(raw).get("id_token", {}).get("acr") or {}
            values += [acr["value"]] if isinstance(acr.get("value"), str) else []
            values += [v for v in acr.get("values", []) if isinstance(v, str)]
        except (ValueError, AttributeError, TypeError):
            pass  # a malformed claims parameter requests nothing here (Authlib reports it, if at all)
    return values


def minimum_level(args) -> tuple[str | None, list[str]]:
    """(the lowest supported level requested, or None if nothing was requested; all requested)."""
    requested = requested_levels(args)
    known = [value for value in requested if value in _RANK]
    return (min(known, key=rank) if known else None), requested


# amr values (RFC 8176) that are a second factor on top of the password: a TOTP code ("otp"; a
# recovery code signs in with "otp" and "kba") or proof of possession of a certificate key ("pop").
SECOND_FACTORS = frozenset({"otp", "pop", "hwk", "swk", "sc"})


def sign_in_level(account_acr: str, amr: list[str]) -> str:
    """The level a sign-in reaches: the account's level, except that loa:3 and above also need a
    second factor at login (DESIGN.md) — a password-only (or password + SMS) sign-in of such an
    account is a loa:2 session, and the person can step up at /authorize (idp/oauth/routes.py)."""
    if rank(account_acr) >= 3 and not SECOND_FACTORS.intersection(amr):
        return LEVELS[1]
    return account_acr


def step_up_method(args, account_acr: str, has_totp: bool) -> str | None:
    """How a signed-in person whose session is below the lowest level asked for can reach it here:
    ``"certificate"`` (loa:4), ``"otp"`` (the account's level is high enough and a TOTP code at
    /login/mfa makes the session reach it) or ``"password"`` (loa:1/2: the account reached the level
    after this session started, and a new sign-in carries it); None when the account cannot reach it
    (then the client gets unmet_authentication_requirements — never a lower acr)."""
    minimum, _ = minimum_level(args)
    if minimum is None:
        return None
    if minimum == LEVELS[3]:
        return "certificate"
    if rank(account_acr) < rank(minimum):
        return None
    if has_totp:
        return "otp"
    return "password" if rank(minimum) <= 2 else None


def unmet(args, session_acr: str | None, *, redirect_uri: str, state: str | None) -> OAuth2Error | None:
    """None when the session's level satisfies the request; otherwise the error to send back."""
    minimum, requested = minimum_level(args)
    if not requested:
        return None
    if minimum is None:
        return UnmetAuthenticationRequirementsError(
            f"none of the requested acr values is supported; use one of {' '.join(LEVELS)}",
            redirect_uri=redirect_uri, state=state)
    if rank(session_acr) >= rank(minimum):
        return None
    return UnmetAuthenticationRequirementsError(
        f"this sign-in reaches {session_acr or 'no level'}; the client asked for at least {minimum}",
        redirect_uri=redirect_uri, state=state)
