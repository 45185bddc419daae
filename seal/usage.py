"""The append-only logs: every sealing (seal_usage, with caller, subject and document digests) and
every lifecycle event (seal_events: who applied, approved, made, suspended ... and why).

Every record of both is chained (keys/auditchain) like the IdP's audit events, through the
registry's ``audit_chain``."""

from __future__ import annotations

from sqlalchemy import func, select

from keys.storage import utcnow
from seal.models import events_table, usage_table


class SealUsage:
    """The usage log of :class:`seal.registry.SealRegistry` (a mixin: it uses the registry's engine)."""

    def log_use(self, esid: str, *, caller: str, subject: str | None, org_uscc: str | None, sm3_before: str,
                sm3_after: str, request_id: str | None, client_ip: str | None, detail: dict | None = None,
                conn=None) -> None:
        """Record one use; with ``conn``, inside that transaction (a batch document and its use
        commit together)."""
        values = dict(
            esid=esid, at=utcnow(), caller=caller, subject=subject, org_uscc=org_uscc, sm3_before=sm3_before,
            sm3_after=sm3_after, request_id=request_id, client_ip=client_ip, detail=detail)
        if conn is not None:
            self.audit_chain.append(conn, usage_table, values)
            return
        self.audit_chain.prepare()
        with self.engine.begin() as own:
            self.audit_chain.append(own, usage_table, values)

    def log_event(self, conn, **values) -> None:
        """Append one row to seal_events, chained, inside ``conn``'s transaction (the caller has run
        ``audit_chain.prepare()`` before opening it)."""
        values.setdefault("detail", None)
        self.audit_chain.append(conn, events_table, values)

    def usage(self, esid: str, limit: int = 100) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(usage_table).where(usage_table.c.esid == esid)
                                .order_by(usage_table.c.id.desc()).limit(limit)).all()
        return [{"at": r.at.isoformat(), "caller": r.caller, "subject": r.subject, "org_uscc": r.org_uscc,
                 "sm3_before": r.sm3_before, "sm3_after": r.sm3_after, "request_id": r.request_id,
                 "client_ip": r.client_ip, "detail": r.detail} for r in rows]

    def usage_count(self, esid: str | None = None) -> int:
        query = select(func.count()).select_from(usage_table)
        if esid:
            query = query.where(usage_table.c.esid == esid)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar()
