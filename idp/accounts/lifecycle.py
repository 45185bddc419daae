"""An account's life after sign-up (issue 5, PIPL): consent records, signing out everywhere, the
export of one's own data (art. 45) and deletion (art. 47).

Deletion erases personal information and keeps a tombstone: the ``idp_users`` row stays, with
its random ``sub``, disabled and with ``deleted_at``, and every login name, the name, the
password hash, the TOTP secret and recovery codes erased; the verified identity (name, encrypted
ID number, its lookup hash) and the OAuth consents are deleted; sessions end and grants are
revoked. Audit records (idp_audit) stay as they are: they name the ``sub`` and carry no PII
beyond client addresses, and the Cybersecurity Law (art. 21) asks for at least six months of
them. Consent records stay too: they prove that past processing was lawful. The organisations a
deleted person represented keep their record (it belongs to the organisation), pointing at the
tombstone ``sub``.

The export holds no secrets: no password or recovery hashes, no TOTP secret, no ID number lookup
hash; the ID number only masked.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine, delete, insert, select, update

from idp.accounts.store import Accounts
from idp.agents.store import ACTIVE, PENDING, REVOKED
from idp.identity import Identities, Organisations
from idp.models import (
    agents_table,
    consents_table,
    grants_table,
    identities_table,
    passkeys_table,
    privacy_consents_table,
)
from idp.oauth.tokens import Tokens
from keys.storage import utcnow

EXPORT_SCHEMA = "yitong-account-export/1"
EXPORT_AUDIT_EVENTS = 200


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class Lifecycle:
    def __init__(self, engine: Engine, accounts: Accounts, tokens: Tokens, identities: Identities,
                 organisations: Organisations, audit,
                 on_session_ended: Callable[[str, str, set[str]], None] | None = None) -> None:
        self.engine = engine
        self.accounts, self.tokens, self.identities = accounts, tokens, identities
        self.organisations, self.audit = organisations, audit
        # (sub, sid, client ids of the session's grants): back-channel logout, wired by idp/oauth/routes.py
        self._on_session_ended = on_session_ended

    # -- consent to the processing of personal information ------------------------------------------------
    def record_consent(self, sub: str, document: str, version: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(privacy_consents_table).values(sub=sub, document=document, version=version,
                                                               consented_at=utcnow()))

    def privacy_consents(self, sub: str) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(privacy_consents_table).where(privacy_consents_table.c.sub == sub)
                                .order_by(privacy_consents_table.c.id)).all()
        return [{"document": r.document, "version": r.version, "consented_at": _iso(r.consented_at)} for r in rows]

    # -- sessions and grants ------------------------------------------------------------------------------------
    def sign_out_everywhere(self, sub: str) -> int:
        """End every session of ``sub`` and revoke every grant (refresh and access tokens); the
        relying parties of each ended session get a back-channel logout token, as on /logout."""
        ended = self.accounts.end_all_sessions(sub)
        with self.engine.connect() as conn:
            grants = conn.execute(select(grants_table.c.grant_id, grants_table.c.sid, grants_table.c.client_id).where(
                grants_table.c.sub == sub, grants_table.c.revoked_at.is_(None))).all()
        for grant in grants:
            self.tokens.revoke_grant(grant.grant_id)
        if self._on_session_ended is not None:
            for sid in ended:
                self._on_session_ended(sub, sid, {g.client_id for g in grants if g.sid == sid})
        return len(ended)

    # -- export (PIPL art. 45) ----------------------------------------------------------------------------------
    def export(self, sub: str) -> dict:
        user = self.accounts.get(sub)
        if user is None:
            raise LookupError("no such account")
        identity = self.identities.get(sub)
        with self.engine.connect() as conn:
            client_consents = conn.execute(select(consents_table).where(consents_table.c.sub == sub)).all()
            grants = conn.execute(select(grants_table).where(grants_table.c.sub == sub, grants_table.c.revoked_at
                                                             .is_(None))).all()
        events = [e for e in self.audit.for_subject(sub, EXPORT_AUDIT_EVENTS)]
        return {
            "schema": EXPORT_SCHEMA,
            "exported_at": utcnow().isoformat(),
            "profile": {"sub": user.sub, "username": user.username, "phone": user.phone, "name": user.name,
                        "acr": user.acr, "created_at": _iso(self.accounts.created_at(sub)),
                        "second_factor": "totp" if user.has_totp else None},
            "identity": None if identity is None else {
                "id_type": identity.id_type, "name": identity.name, "id_number": identity.id_number_masked,
                "trust_framework": identity.trust_framework, "evidence": identity.evidence,
                "verified_at": _iso(identity.verified_at)},
            "organisations": [{"uscc": o.uscc, "name": o.name, "role": "legal_representative", "acr": o.acr,
                               "verified_at": _iso(o.verified_at)} for o in self.organisations.represented_by(sub)],
            "privacy_consents": self.privacy_consents(sub),
            "client_consents": [{"client_id": c.client_id, "scopes": c.scopes, "granted_at": _iso(c.granted_at)}
                                for c in client_consents],
            "active_grants": [{"client_id": g.client_id, "scope": g.scope, "created_at": _iso(g.created_at)}
                              for g in grants],
            "audit_events": [{"at": e.at.isoformat(), "event": e.event, "client_id": e.client_id, "ip": e.ip,
                              "detail": e.detail} for e in events],
        }

    # -- deletion (PIPL art. 47) --------------------------------------------------------------------------------
    def delete(self, sub: str) -> int:
        """Erase the person's PII, keep the tombstone; returns how many sessions were ended."""
        ended = self.sign_out_everywhere(sub)
        with self.engine.begin() as conn:
            conn.execute(delete(identities_table).where(identities_table.c.sub == sub))
            conn.execute(delete(consents_table).where(consents_table.c.sub == sub))
            conn.execute(delete(passkeys_table).where(passkeys_table.c.sub == sub))  # their public keys go too
            # Their authorisations to act for organisations end with the account (grants are revoked above).
            conn.execute(update(agents_table).where(agents_table.c.agent_sub == sub,
                                                    agents_table.c.status.in_([PENDING, ACTIVE]))
                         .values(status=REVOKED, revoked_by=sub, revoked_at=utcnow()))
        self.accounts.erase(sub)
        return ended
