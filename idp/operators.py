"""Operator roles (issue 17, MLPS level 3 三员分立): system, security and audit administrators.

One role per operator (a person's ``sub``, or an automation client's id), so nobody both acts
and reads the trace of it. The first system administrator is made from the CLI at install;
every later grant or revocation is made by another, existing system administrator, never by
the operator concerned. What each role may do is :data:`PERMISSIONS`; the admin API checks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete, func, insert, select

from idp.models import operators_table
from keys.storage import utcnow

ROLES = ("system", "security", "audit")

# Resource -> the role that manages it (the admin API's areas; see README "Operators").
PERMISSIONS = {
    "clients": "system", "keys": "system", "settings": "system", "connectors": "system", "federation": "system",
    "operators": "system",
    "users": "security", "organisations": "security", "agents": "security", "seals": "security",
    "licence_types": "security",
    "audit": "audit",
}


class OperatorError(Exception):
    """A grant or revocation the separation of duties refuses."""


@dataclass(frozen=True)
class Operator:
    sub: str
    role: str
    granted_by: str | None
    granted_at: datetime

    def as_dict(self) -> dict:
        return {"sub": self.sub, "role": self.role, "granted_by": self.granted_by,
                "granted_at": self.granted_at.isoformat()}


class Operators:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def role_of(self, sub: str | None) -> str | None:
        if not sub:
            return None
        with self.engine.connect() as conn:
            return conn.execute(select(operators_table.c.role).where(operators_table.c.sub == sub)).scalar()

    def list(self) -> list[Operator]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(operators_table).order_by(operators_table.c.role, operators_table.c.sub)).all()
        return [Operator(r.sub, r.role, r.granted_by, r.granted_at) for r in rows]

    def grant(self, sub: str, role: str, *, by: str | None) -> Operator:
        """Give ``sub`` ``role``. ``by`` None is only for the very first system administrator."""
        if role not in ROLES:
            raise OperatorError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        if not sub or len(sub) > 64:
            raise OperatorError("an operator is a subject (sub) or client id of at most 64 characters")
        with self.engine.begin() as conn:
            count = conn.execute(select(func.count()).select_from(operators_table)).scalar()
            if by is None:
                if count:
                    raise OperatorError("operators exist: a grant names the system administrator making it (--by)")
                if role != "system":
                    raise OperatorError("the first operator is a system administrator")
            else:
                self._check_granter(conn, by, sub)
            current = conn.execute(select(operators_table.c.role).where(operators_table.c.sub == sub)).scalar()
            if current is not None:
                raise OperatorError(f"{sub} is already the {current} administrator; one role per operator "
                                    "(revoke it first)")
            now = utcnow()
            conn.execute(insert(operators_table).values(sub=sub, role=role, granted_by=by, granted_at=now))
        return Operator(sub, role, by, now)

    def revoke(self, sub: str, *, by: str) -> Operator:
        with self.engine.begin() as conn:
            self._check_granter(conn, by, sub)
            row = conn.execute(select(operators_table).where(operators_table.c.sub == sub)).first()
            if row is None:
                raise OperatorError(f"{sub} holds no operator role")
            conn.execute(delete(operators_table).where(operators_table.c.sub == sub))
        return Operator(row.sub, row.role, row.granted_by, row.granted_at)

    @staticmethod
    def _check_granter(conn, by: str, sub: str) -> None:
        if by == sub:
            raise OperatorError("no operator grants or revokes a role of their own: another administrator must")
        role = conn.execute(select(operators_table.c.role).where(operators_table.c.sub == by)).scalar()
        if role != "system":
            raise OperatorError(f"{by} is not a system administrator; only one may grant or revoke roles")
