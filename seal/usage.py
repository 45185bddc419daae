"""The append-only usage log: every sealing, with caller, subject and document digests."""

from __future__ import annotations

from sqlalchemy import func, insert, select

from keys.storage import utcnow
from seal.models import usage_table


class SealUsage:
    """The usage log of :class:`seal.registry.SealRegistry` (a mixin: it uses the registry's engine)."""

    def log_use(self, esid: str, *, caller: str, subject: str | None, org_uscc: str | None, sm3_before: str,
                sm3_after: str, request_id: str | None, client_ip: str | None, detail: dict | None = None,
                conn=None) -> None:
        """Record one use; with ``conn``, inside that transaction (a batch document and its use
        commit together)."""
        row = insert(usage_table).values(
            esid=esid, at=utcnow(), caller=caller, subject=subject, org_uscc=org_uscc, sm3_before=sm3_before,
            sm3_after=sm3_after, request_id=request_id, client_ip=client_ip, detail=detail)
        if conn is not None:
            conn.execute(row)
            return
        with self.engine.begin() as own:
            own.execute(row)

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
