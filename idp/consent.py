"""Remembered consent (idp_consents): a person approves scopes for a client once."""

from __future__ import annotations

from sqlalchemy import Engine, insert, select, update

from idp.models import consents_table
from keys.storage import utcnow

SCOPE_LABELS = {
    "openid": ("确认您的身份", "Confirm who you are"),
    "profile": ("用户名和姓名", "Your username and name"),
    "phone": ("手机号码", "Your mobile number"),
    "offline_access": ("在您离线时保持访问", "Keep access while you are away"),
    "verified_claims": ("经核验的实名信息（姓名，经授权时含身份证号码）",
                        "Your verified real name (and ID number, where this service is allowed it)"),
}


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
