"""licence_ tables: the catalogue, the licence library, its events, issuing clients, idempotency keys,
showings and uses, legal sharing grants."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from keys.auditchain.models import link_columns
from keys.storage import UTCDateTime, new_metadata

metadata = new_metadata()

# The catalogue (证照目录, GB/T 36902): one row per licence type; its definition is JSON
# (licence.catalogue.LicenceType.as_dict), checked on every write.
types_table = Table(
    "licence_types",
    metadata,
    Column("code", String(32), primary_key=True),  # 证照类型代码: defining authority USCC + 3 digits
    Column("definition", JSON, nullable=False),
    Column("authority_uscc", String(18), nullable=False, index=True),
    Column("esid", String(32), nullable=True),  # the issuing authority's seal
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# The licence library: one row per licence version (a change issues a new version).
licences_table = Table(
    "licence_licences",
    metadata,
    Column("licence_id", String(96), primary_key=True),  # GB/T 36904 identifier (licence.identifier)
    Column("type_code", String(32), nullable=False),
    Column("issuer_uscc", String(18), nullable=False),
    Column("serial", String(32), nullable=False),
    Column("version", Integer, nullable=False),
    Column("number", String(64), nullable=False),  # 证照编号, printed on the face
    Column("holder_kind", String(8), nullable=False),  # person | org
    Column("holder_id", String(64), nullable=False),
    Column("holder_name", String(128), nullable=False),
    Column("data", JSON, nullable=False),
    Column("status", String(12), nullable=False),  # valid revoked expired superseded
    Column("valid_from", Date, nullable=False),
    Column("valid_to", Date, nullable=True),  # None: long-term (长期)
    Column("issued_at", UTCDateTime, nullable=False),
    Column("format", String(4), nullable=False),  # pdf | ofd
    Column("file", LargeBinary, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("esid", String(32), nullable=False),
    Column("supersedes", String(96), nullable=True),
    Column("superseded_by", String(96), nullable=True),
    Column("client_id", String(128), nullable=True),  # the issuing business system, if any
    Column("row_key", String(128), nullable=True),  # batch import: the row's own key
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("type_code", "serial", "version", name="uq_licence_serial_version"),
    UniqueConstraint("type_code", "row_key", name="uq_licence_row_key"),
    Index("ix_licence_holder", "holder_kind", "holder_id"),
)

# Every issuance and lifecycle change, with who and why. Append-only and chained (keys/auditchain).
events_table = Table(
    "licence_events",
    metadata,
    Column("id", Integer, Identity(always=False), primary_key=True),
    Column("licence_id", String(96), nullable=True, index=True),  # None for catalogue events
    Column("type_code", String(32), nullable=True),
    Column("at", UTCDateTime, nullable=False),
    Column("event", String(24), nullable=False),  # issued revoked expired superseded type-added type-updated
    Column("from_status", String(12), nullable=True),
    Column("to_status", String(12), nullable=True),
    Column("actor", String(128), nullable=False),
    Column("reason", Text, nullable=True),
    Column("detail", JSON, nullable=True),
    *link_columns("licence_events"),  # tamper evidence (keys/auditchain)
)

# Serial numbers per type (licence identifiers never reuse one; a crash leaves a gap, never a twin).
serials_table = Table(
    "licence_serials",
    metadata,
    Column("type_code", String(32), primary_key=True),
    Column("last", Integer, nullable=False),
)

# Which business client may issue for which authority (its own authority's types only).
issuer_clients_table = Table(
    "licence_issuer_clients",
    metadata,
    Column("client_id", String(128), primary_key=True),
    Column("authority_uscc", String(18), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(128), nullable=False),
)

# Idempotency-Key of issuance requests: a retry gets the same licence, another body a 409.
idempotency_table = Table(
    "licence_idempotency",
    metadata,
    Column("client_id", String(128), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("body_sha256", String(64), nullable=False),
    Column("licence_id", String(96), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# Batch imports through the API (POST /licences/api/v1/batches), run on the JobQueue.
batches_table = Table(
    "licence_batches",
    metadata,
    Column("batch_id", String(64), primary_key=True),
    Column("type_code", String(32), nullable=False),
    Column("client_id", String(128), nullable=False),
    Column("format", String(4), nullable=False),
    Column("name", String(255), nullable=False),
    Column("input", LargeBinary, nullable=True),  # dropped once the batch has run
    Column("status", String(12), nullable=False),  # queued running done
    Column("total", Integer, nullable=False),
    Column("issued", Integer, nullable=False),
    Column("existing", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
    Column("errors", JSON, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
)

# Showings (亮证) from the holder's wallet: one signed, short-lived QR code each, naming the
# items the holder chose to show (licence/showing.py).
showings_table = Table(
    "licence_showings",
    metadata,
    Column("showing_id", String(32), primary_key=True),
    Column("licence_id", String(96), nullable=False, index=True),
    Column("holder_sub", String(128), nullable=False),
    Column("items", JSON, nullable=False),  # data item names the holder allowed
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

# 用证记录: every showing, every view of one and every answered sharing operation, listed in the
# holder's wallet. Append-only and chained (keys/auditchain).
uses_table = Table(
    "licence_uses",
    metadata,
    Column("id", Integer, Identity(always=False), primary_key=True),
    Column("licence_id", String(96), nullable=False, index=True),
    Column("showing_id", String(32), nullable=True),
    Column("at", UTCDateTime, nullable=False),
    Column("event", String(12), nullable=False),  # shown viewed shared
    Column("detail", JSON, nullable=True),  # e.g. the viewer's browser (never an address or personal data)
    # a use through the sharing service (licence/sharing.py): who, why, what
    Column("client_id", String(128), nullable=True),
    Column("purpose", String(200), nullable=True),
    Column("operation", String(12), nullable=True),  # list data file status
    *link_columns("licence_uses"),  # tamper evidence (keys/auditchain)
)

# Legal sharing grants (licence/sharing.py): an operator lets a business client read licences of
# these types for this purpose without the holder's consent, with or without the sensitive items.
share_grants_table = Table(
    "licence_share_grants",
    metadata,
    Column("grant_id", String(32), primary_key=True),
    Column("client_id", String(128), nullable=False, index=True),
    Column("type_codes", JSON, nullable=False),
    Column("purpose", String(200), nullable=False),
    Column("sensitive", Boolean, nullable=False),
    Column("basis", Text, nullable=True),  # the law or agreement the grant rests on
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("revoked_by", String(128), nullable=True),
)
