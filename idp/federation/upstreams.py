"""Configured upstream OpenID providers (idp_federation_upstreams), set by operators with
``yitong federation add``. The client secret is SM4-GCM encrypted under a keystore secret (AAD
binds the upstream's name), so a database dump alone does not reveal it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError

from idp.acr import LEVELS
from idp.errors import IdpError
from idp.models import federation_upstreams_table
from keys.sm4 import SM4GCM
from keys.storage import single_reads, utcnow

SECRET_NAME = "idp-federation-sm4"
NAME = re.compile(r"^[a-z][a-z0-9-]{1,31}$")
TRUST_FRAMEWORK = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]{1,63}$")
DEFAULT_CLAIMS = {  # where a Yitong upstream (and OIDC4IA providers) put them; dotted paths
    "id_number": "verified_claims.claims.urn:yitong:claims:id_number",
    "name": "verified_claims.claims.name",
    "level": "acr",
}


class UpstreamError(IdpError, ValueError):
    """Invalid upstream configuration (a CLI error)."""


@dataclass(frozen=True)
class Upstream:
    name: str
    label: str
    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    scope: str
    claims: dict
    level_map: dict
    max_acr: str
    trust_framework: str
    ca_file: str | None = None

    def level(self, asserted) -> str | None:
        """Our level for the upstream's asserted value, capped at ``max_acr``; None if unknown."""
        mapped = self.level_map.get(asserted) if isinstance(asserted, str) else None
        if mapped not in LEVELS:
            return None
        return LEVELS[min(LEVELS.index(mapped), LEVELS.index(self.max_acr))]

    def as_dict(self) -> dict:
        """The configuration without the secret."""
        return {"name": self.name, "label": self.label, "issuer": self.issuer, "client_id": self.client_id,
                "scope": self.scope, "claims": self.claims, "level_map": self.level_map, "max_acr": self.max_acr,
                "trust_framework": self.trust_framework, "ca_file": self.ca_file}


def check_issuer(issuer: str) -> str:
    """https, or http on a loopback address only (tests, a local stand-in)."""
    parts = urlsplit(issuer.strip())
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
        raise UpstreamError(f"--issuer must be an absolute https URL without query or fragment; got {issuer!r}")
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise UpstreamError("--issuer must use https (http only on a loopback address)")
    return issuer.strip().rstrip("/")


class Upstreams:
    def __init__(self, engine: Engine, keystore) -> None:
        self.engine = engine
        self._reads = single_reads(engine)  # summaries(), on every sign-in page
        self._cipher = SM4GCM(keystore.secret(SECRET_NAME, 16))

    def _aad(self, name: str) -> bytes:
        return f"yitong-federation/1|{name}".encode()

    def add(self, *, name: str, label: str, issuer: str, client_id: str, client_secret: str, scope: str,
            claims: dict | None = None, level_map: dict | None = None, max_acr: str = LEVELS[1],
            trust_framework: str | None = None, ca_file: str | None = None) -> Upstream:
        if not NAME.match(name):
            raise UpstreamError("the name is 2-32 lowercase letters, digits or '-', starting with a letter")
        issuer = check_issuer(issuer)
        if not client_id or not client_secret:
            raise UpstreamError("a client_id and a client_secret (registered at the upstream) are required")
        scopes = scope.split()
        if "openid" not in scopes:
            raise UpstreamError("the scope must include openid")
        merged = {**DEFAULT_CLAIMS, **(claims or {})}
        unknown = set(merged) - set(DEFAULT_CLAIMS)
        if unknown or not all(isinstance(v, str) and v for v in merged.values()):
            raise UpstreamError(f"claim mappings are for {', '.join(DEFAULT_CLAIMS)} (non-empty dotted paths)")
        level_map = dict(level_map or {level: level for level in LEVELS})
        bad = [v for v in level_map.values() if v not in LEVELS]
        if bad:
            raise UpstreamError(f"levels map onto {', '.join(LEVELS)}; got {', '.join(bad)}")
        if max_acr not in LEVELS[1:]:  # a verified ID number is at least real name (loa:2)
            raise UpstreamError(f"--max-level must be one of {', '.join(LEVELS[1:])}")
        trust_framework = trust_framework or f"federation:{name}"
        if not TRUST_FRAMEWORK.match(trust_framework):
            raise UpstreamError("--trust-framework is 2-64 letters, digits, '_', '.', ':', '-'")
        if ca_file:
            try:
                Path(ca_file).read_bytes()
            except OSError as exc:
                raise UpstreamError(f"--ca-file: cannot read {ca_file}: {exc.strerror}") from None
            ca_file = str(Path(ca_file).resolve())
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(federation_upstreams_table).values(
                    name=name, label=label or name, issuer=issuer, client_id=client_id,
                    client_secret_enc=self._cipher.seal(client_secret.encode(), self._aad(name)),
                    scope=" ".join(dict.fromkeys(scopes)), claims=merged, level_map=level_map, max_acr=max_acr,
                    trust_framework=trust_framework, ca_file=ca_file, created_at=utcnow()))
        except IntegrityError:
            raise UpstreamError(f"an upstream named {name!r} exists; remove it first") from None
        return self.get(name)

    def _upstream(self, row) -> Upstream:
        secret = self._cipher.open(row.client_secret_enc, self._aad(row.name)).decode()
        return Upstream(row.name, row.label, row.issuer, row.client_id, secret, row.scope, dict(row.claims),
                        dict(row.level_map), row.max_acr, row.trust_framework, row.ca_file)

    def get(self, name: str) -> Upstream | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(federation_upstreams_table)
                               .where(federation_upstreams_table.c.name == name)).first()
        return self._upstream(row) if row else None

    def list(self) -> list[Upstream]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(federation_upstreams_table)
                                .order_by(federation_upstreams_table.c.name)).all()
        return [self._upstream(r) for r in rows]

    def summaries(self) -> list[tuple[str, str]]:
        """(name, label) of every upstream, for the sign-in page (nothing decrypted)."""
        table = federation_upstreams_table
        with self._reads.connect() as conn:
            return [(r.name, r.label) for r in conn.execute(select(table.c.name, table.c.label).order_by(table.c.name))]

    def trust_frameworks(self) -> list[str]:
        table = federation_upstreams_table
        with self.engine.connect() as conn:
            return list(conn.execute(select(table.c.trust_framework).order_by(table.c.name)).scalars())

    def remove(self, name: str) -> None:
        with self.engine.begin() as conn:
            if not conn.execute(delete(federation_upstreams_table)
                                .where(federation_upstreams_table.c.name == name)).rowcount:
                raise UpstreamError(f"no upstream {name!r}")
