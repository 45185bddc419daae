"""Which business clients may issue for which authority (licence_issuer_clients)."""

from __future__ import annotations

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from keys.idnumbers import IdentifierError, check_uscc
from keys.storage import utcnow
from licence.library import LicenceError
from licence.models import issuer_clients_table


class IssuerClients:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def allow(self, client_id: str, authority_uscc: str, *, actor: str) -> None:
        try:
            uscc = check_uscc(authority_uscc).code
        except IdentifierError as exc:
            raise LicenceError(f"--authority: {exc.en}") from None
        if not client_id or len(client_id) > 128:
            raise LicenceError("a client id is 1-128 characters")
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(issuer_clients_table).values(client_id=client_id, authority_uscc=uscc,
                                                                 created_at=utcnow(), created_by=actor))
        except IntegrityError:
            pass  # already allowed

    def authorities(self, client_id: str) -> set[str]:
        with self.engine.connect() as conn:
            return set(conn.execute(select(issuer_clients_table.c.authority_uscc)
                                    .where(issuer_clients_table.c.client_id == client_id)).scalars())

    def list(self) -> list[tuple[str, str]]:
        with self.engine.connect() as conn:
            return [(r.client_id, r.authority_uscc) for r in conn.execute(
                select(issuer_clients_table).order_by(issuer_clients_table.c.client_id))]
