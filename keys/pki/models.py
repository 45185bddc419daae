"""keys_ tables of the PKI: certificate authorities, issued certificates, current CRLs."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Index,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from keys.keystore.models import metadata
from keys.storage import UTCDateTime

cas_table = Table(
    "keys_cas",
    metadata,
    Column("name", String(32), primary_key=True),  # sm2-root, sm2-issuing, p256-root, ...
    Column("algorithm", String(16), nullable=False),
    Column("parent", String(32), nullable=True),  # None for a root
    Column("kid", String(64), nullable=False),  # the CA key in keys_keys (purpose "ca")
    Column("cert_der", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

certificates_table = Table(
    "keys_certificates",
    metadata,
    Column("ca", String(32), nullable=False),
    Column("serial", String(40), nullable=False),  # upper-case hex, no leading zeros
    Column("profile", String(16), nullable=False),
    Column("subject", Text, nullable=False),
    Column("kid", String(64), nullable=True),  # when the key is in our keystore
    Column("not_before", UTCDateTime, nullable=False),
    Column("not_after", UTCDateTime, nullable=False),
    Column("cert_der", LargeBinary, nullable=False),
    Column("status", String(8), nullable=False),  # good | hold | revoked
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("reason", String(32), nullable=True),
    Column("issued_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("ca", "serial"),
    CheckConstraint("status IN ('good', 'hold', 'revoked')", name="status"),
    Index("ix_keys_certificates_ca_status", "ca", "status"),
)

crls_table = Table(
    "keys_crls",
    metadata,
    Column("ca", String(32), primary_key=True),
    Column("number", BigInteger, nullable=False),
    Column("this_update", UTCDateTime, nullable=False),
    Column("next_update", UTCDateTime, nullable=False),
    Column("crl_der", LargeBinary, nullable=False),
)
