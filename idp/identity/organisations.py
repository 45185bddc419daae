"""Organisations (idp_organisations): legal persons and other organisations verified against the
legal-person library, each registered by its legal representative. One row per USCC."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from idp.errors import IdpError
from idp.models import organisations_table
from keys.storage import utcnow


class OrganisationTaken(IdpError):
    """This USCC is already registered."""


@dataclass(frozen=True)
class Organisation:
    uscc: str
    name: str
    legal_representative_sub: str
    acr: str
    uscc_warnings: list
    trust_framework: str
    evidence: dict
    verified_at: datetime


def _organisation(row) -> Organisation:
    return Organisation(row.uscc, row.name, row.legal_representative_sub, row.acr, list(row.uscc_warnings),
                        row.trust_framework, row.evidence, row.verified_at)


class Organisations:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def register(self, *, uscc: str, name: str, legal_representative_sub: str, acr: str, uscc_warnings: list,
                 trust_framework: str, evidence: dict, verified_at: datetime | None = None) -> Organisation:
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(organisations_table).values(
                    uscc=uscc, name=name, legal_representative_sub=legal_representative_sub, acr=acr,
                    uscc_warnings=uscc_warnings, trust_framework=trust_framework, evidence=evidence,
                    verified_at=verified_at or utcnow()))
        except IntegrityError:
            raise OrganisationTaken("this unified social credit code is already registered") from None
        return self.get(uscc)

    def get(self, uscc: str) -> Organisation | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(organisations_table).where(organisations_table.c.uscc == uscc)).first()
        return _organisation(row) if row else None

    def search(self, q: str = "", *, after: str | None = None, limit: int = 50) -> list[Organisation]:
        """Organisations by USCC, searched by a USCC prefix or a part of the name, paged by ``after``
        (the last USCC seen)."""
        query = select(organisations_table).order_by(organisations_table.c.uscc).limit(limit)
        if q:
            query = query.where(organisations_table.c.uscc.startswith(q.upper(), autoescape=True)
                                | organisations_table.c.name.contains(q, autoescape=True))
        if after:
            query = query.where(organisations_table.c.uscc > after)
        with self.engine.connect() as conn:
            return [_organisation(row) for row in conn.execute(query).all()]

    def represented_by(self, sub: str) -> list[Organisation]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(organisations_table).where(
                organisations_table.c.legal_representative_sub == sub).order_by(organisations_table.c.name)).all()
        return [_organisation(row) for row in rows]
