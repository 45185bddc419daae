"""Remembered consent (idp_consents): a person approves scopes for a client once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete, insert, select, update

from idp.models import consents_table, grants_table
from keys.storage import utcnow

SCOPE_LABELS = {
    "openid": ("确认您的身份", "Confirm who you are"),
    "profile": ("用户名和姓名", "Your username and name"),
    "phone": ("手机号码", "Your mobile number"),
    "offline_access": ("在您离线时保持访问", "Keep access while you are away"),
    "verified_claims": ("经核验的实名信息（姓名，经授权时含身份证号码）",
                        "Your verified real name (and ID number, where this service is allowed it)"),
}


@dataclass(frozen=True)
class ScopeFamily:
    """Scopes the IdP does not know by name, described by the composition root (the IdP imports no
    resource server): ``prefix`` + a member, e.g. ``licence:read:<licence type code>``. ``describe``
    takes the member and answers its (zh, en) label for the consent page and the account page, or
    None when there is no such member (the request is then refused with invalid_scope)."""

    prefix: str
    describe: Callable[[str], tuple[str, str] | None]

    def member(self, scope: str) -> str | None:
        return scope[len(self.prefix):] if scope.startswith(self.prefix) and len(scope) > len(self.prefix) else None


def family_of(scope: str, families) -> ScopeFamily | None:
    return next((f for f in families if f.member(scope) is not None), None)


def scope_label(scope: str, families=()) -> tuple[str, str]:
    """The (zh, en) words for a scope: the fixed labels, a family's description, else the scope itself."""
    if scope in SCOPE_LABELS:
        return SCOPE_LABELS[scope]
    family = family_of(scope, families)
    described = family.describe(family.member(scope)) if family else None
    return described or (scope, scope)


@dataclass(frozen=True)
class Consent:
    client_id: str
    scopes: list[str]
    granted_at: datetime


class Consents:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def granted(self, sub: str, client_id: str) -> set[str]:
        with self.engine.connect() as conn:
            scopes = conn.execute(select(consents_table.c.scopes).where(
                consents_table.c.sub == sub, consents_table.c.client_id == client_id)).scalar()
        return set(scopes or [])

    def covers(self, sub: str, client_id: str, scope: str) -> bool:
        return set(scope.split()) <= self.granted(sub, client_id)

    def grant(self, sub: str, client_id: str, scope: str) -> None:
        with self.engine.begin() as conn:
            current = conn.execute(select(consents_table.c.scopes).where(
                consents_table.c.sub == sub, consents_table.c.client_id == client_id).with_for_update()).scalar()
            scopes = sorted(set(current or []) | set(scope.split()))
            if current is None:
                conn.execute(insert(consents_table).values(sub=sub, client_id=client_id, scopes=scopes,
                                                           granted_at=utcnow()))
            else:
                conn.execute(update(consents_table).where(consents_table.c.sub == sub,
                                                          consents_table.c.client_id == client_id)
                             .values(scopes=scopes, granted_at=utcnow()))

    def of_person(self, sub: str) -> list[Consent]:
        """Every client this person has approved scopes for (the account console lists them)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(consents_table).where(consents_table.c.sub == sub)
                                .order_by(consents_table.c.granted_at.desc())).all()
        return [Consent(r.client_id, list(r.scopes or []), r.granted_at) for r in rows]

    def withdraw(self, sub: str, client_id: str, tokens) -> list[str] | None:
        """Forget the consent and revoke that client's grants for this person (``tokens``:
        idp.oauth.tokens.Tokens, so access tokens die with them); the revoked grant ids, or None when
        there was no consent to withdraw."""
        with self.engine.begin() as conn:
            gone = conn.execute(delete(consents_table).where(consents_table.c.sub == sub,
                                                             consents_table.c.client_id == client_id)).rowcount
            grant_ids = conn.execute(select(grants_table.c.grant_id).where(
                grants_table.c.sub == sub, grants_table.c.client_id == client_id,
                grants_table.c.revoked_at.is_(None))).scalars().all()
        for grant_id in grant_ids:
            tokens.revoke_grant(grant_id)
        return list(grant_ids) if gone else None
