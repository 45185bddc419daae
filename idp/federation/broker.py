"""Linking an upstream sign-in to an account: ONLY by the keyed hash of a verified ID number.

- The ID number must come from where the configuration says the upstream puts its *verified* ID
  number (by default OIDC4IA ``verified_claims.claims``), pass the GB 11643 checks, and arrive
  with a level the configuration maps to loa:2 or higher; otherwise nobody is signed in.
- An account whose verified identity has that number (``Identities.sub_for_id_number``, the
  HMAC-SM3 lookup hash; nothing decrypted) is the one signed in; e-mail, phone and name are never
  used to match. Its level is raised to the upstream's (capped) level, never lowered.
- With no such account, one is created (no password: it signs in through the upstream, or sets
  a password later) and the identity is bound with the upstream as trust framework and OIDC4IA
  ``vouch`` evidence (the upstream platform attests the identity).
- Every outcome is audited without the ID number or the name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError

from idp.acr import LEVELS, rank
from idp.errors import IdpError
from idp.federation.rp import claim_at
from idp.federation.upstreams import Upstream
from idp.identity import IdentifierError, Identities, IdentityTaken, check_resident_id
from idp.models import federation_links_table, users_table
from keys.ids import new_id
from keys.storage import utcnow

MAX_NAME = 64


class NotLinkable(IdpError):
    """The upstream's assertion cannot be used to sign anyone in (code for audit, zh/en for people)."""

    def __init__(self, code: str, zh: str, en: str) -> None:
        super().__init__(code)
        self.code, self.zh, self.en = code, zh, en


@dataclass(frozen=True)
class Outcome:
    sub: str
    acr: str
    created: bool


def _first(sources: tuple[dict, ...], path: str):
    """The value at ``path`` in the first source that has it (the ID token, then userinfo)."""
    for source in sources:
        value = claim_at(source, path)
        if value is not None:
            return value
    return None


def assertion(upstream: Upstream, *sources: dict) -> tuple[str, str, str, str]:
    """(ID number, its kind, name, our capped level) from the upstream's claims, or NotLinkable."""
    number = _first(sources, upstream.claims["id_number"])
    if not isinstance(number, str) or not number:
        raise NotLinkable("no_verified_id_number", "对方平台未提供经核验的身份证号码，无法登录。",
                          "the national platform did not assert a verified ID number, so you cannot sign in here")
    try:
        checked = check_resident_id(number)
    except IdentifierError:
        raise NotLinkable("invalid_id_number", "对方平台提供的身份证号码无效。",
                          "the ID number asserted by the national platform is not valid") from None
    name = _first(sources, upstream.claims["name"])
    name = " ".join(name.split()) if isinstance(name, str) else ""
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise NotLinkable("no_verified_name", "对方平台未提供经核验的姓名。",
                          "the national platform did not assert a verified name")
    level = upstream.level(_first(sources, upstream.claims["level"]))
    if level is None or rank(level) < rank(LEVELS[1]):
        raise NotLinkable("level_too_low", "对方平台的认证等级不足以完成实名登录。",
                          "the level the national platform asserts is not a real-name level")
    return checked.number, checked.kind, name, level


def vouch_evidence(upstream: Upstream, upstream_sub: str, asserted_level) -> dict:
    """OIDC4IA ``vouch`` evidence: the upstream platform attests this identity."""
    return {"type": "vouch", "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "attestation": {"type": "digital_attestation", "reference_number": upstream_sub,
                            "voucher": {"organization": upstream.issuer}},
            "check_details": [{"check_method": "federation", "organization": upstream.issuer,
                               "txn": upstream_sub}],
            "asserted_level": asserted_level if isinstance(asserted_level, str) else None}


def link(upstream: Upstream, identities: Identities, accounts, upstream_sub: str, *sources: dict) -> Outcome:
    """Find (by ID-number hash) or create the account; bind, raise its level, record the link.
    ``sources``: the validated ID token's claims, then (if fetched) the userinfo response."""
    number, kind, name, level = assertion(upstream, *sources)
    sub = identities.sub_for_id_number(number)
    created = False
    if sub is None:
        sub = _new_account(accounts.engine, name, level)
        try:
            identities.bind(sub, id_type=kind, name=name, id_number=number, trust_framework=upstream.trust_framework,
                            evidence=vouch_evidence(upstream, upstream_sub, _first(sources, upstream.claims["level"])))
            created = True
        except IdentityTaken:  # a concurrent first sign-in with the same number won: use its account
            _drop_account(accounts.engine, sub)
            sub = identities.sub_for_id_number(number)
            if sub is None:
                raise NotLinkable("race", "请重试。", "please try again") from None
        except Exception:  # nothing half-written: no account without its identity
            _drop_account(accounts.engine, sub)
            raise
    if accounts.get(sub) is None:
        raise NotLinkable("account_disabled", "该账号已停用。", "this account is disabled")
    accounts.raise_level(sub, level)
    _record_link(accounts.engine, upstream.name, upstream_sub, sub, level)
    return Outcome(sub, level, created)


def _new_account(engine, name: str, level: str) -> str:
    sub = new_id()
    with engine.begin() as conn:
        conn.execute(insert(users_table).values(sub=sub, username=None, phone=None, password_hash=None, acr=level,
                                                name=name, disabled=False, created_at=utcnow()))
    return sub


def _drop_account(engine, sub: str) -> None:
    from sqlalchemy import delete

    with engine.begin() as conn:
        conn.execute(delete(users_table).where(users_table.c.sub == sub))


def _record_link(engine, upstream: str, upstream_sub: str, sub: str, level: str) -> None:
    table = federation_links_table
    now = utcnow()
    with engine.begin() as conn:
        changed = conn.execute(update(table).where(table.c.upstream == upstream, table.c.upstream_sub == upstream_sub)
                               .values(sub=sub, last_at=now, last_acr=level)).rowcount
    if changed:
        return
    try:
        with engine.begin() as conn:
            conn.execute(insert(table).values(upstream=upstream, upstream_sub=upstream_sub, sub=sub, first_at=now,
                                              last_at=now, last_acr=level))
    except IntegrityError:  # inserted concurrently: the row is there, which is all we need
        pass
