"""Who may use a seal: grants to OAuth clients and persons, recorded with who granted them."""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from keys.storage import utcnow
from seal.errors import SealError
from seal.models import grants_table
from seal.records import _SUB


class SealGrants:
    """The grants half of :class:`seal.registry.SealRegistry` (a mixin: it uses the registry's engine)."""

    def grant(self, esid: str, grantee_kind: str, grantee: str, *, actor: str) -> None:
        record = self.get(esid)
        if grantee_kind not in ("client", "person"):
            raise SealError("grantee kind must be client or person")
        if not _SUB.match(grantee or ""):
            raise SealError(f"{grantee!r} is not a client id or subject")
        now = utcnow()
        self.audit_chain.prepare()
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(grants_table).values(esid=record.esid, grantee_kind=grantee_kind, grantee=grantee,
                                                         created_at=now, created_by=actor))
                self.log_event(conn, esid=record.esid, at=now, event="granted", from_status=None, to_status=None,
                               actor=actor, reason=f"{grantee_kind} {grantee}")
        except IntegrityError:
            pass  # already granted

    def revoke_grant(self, esid: str, grantee_kind: str, grantee: str, *, actor: str) -> None:
        from sqlalchemy import delete

        now = utcnow()
        self.audit_chain.prepare()
        with self.engine.begin() as conn:
            gone = conn.execute(delete(grants_table).where(
                grants_table.c.esid == esid, grants_table.c.grantee_kind == grantee_kind,
                grants_table.c.grantee == grantee)).rowcount
            if gone:
                self.log_event(conn, esid=esid, at=now, event="ungranted", from_status=None, to_status=None,
                               actor=actor, reason=f"{grantee_kind} {grantee}")

    def granted(self, esid: str, grantee_kind: str, grantee: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(grants_table.c.esid).where(
                grants_table.c.esid == esid, grants_table.c.grantee_kind == grantee_kind,
                grants_table.c.grantee == grantee)).first() is not None

    def grants(self, esid: str) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(grants_table).where(grants_table.c.esid == esid)).all()
        return [{"kind": r.grantee_kind, "grantee": r.grantee, "created_at": r.created_at.isoformat(),
                 "created_by": r.created_by} for r in rows]
