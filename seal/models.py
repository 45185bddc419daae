"""seal_ tables: seals (registry + made material), lifecycle events, grants, usage log, makers."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from keys.auditchain.models import link_columns
from keys.storage import UTCDateTime, new_metadata

metadata = new_metadata()

seals_table = Table(
    "seal_seals",
    metadata,
    Column("esid", String(32), primary_key=True),  # 6-digit region code + 8-digit serial
    Column("holder_kind", String(8), nullable=False),  # org | person
    Column("holder_id", String(64), nullable=False),  # USCC, or the IdP's stable sub
    Column("holder_name", String(128), nullable=False),
    Column("type", Integer, nullable=False),  # de-facto seal type code (DESIGN.md): 1..8, 99
    Column("name", String(128), nullable=False),  # the seal's name (SES_ESPropertyInfo.name)
    Column("algorithm", String(8), nullable=False),  # sm2 | p256
    Column("status", String(12), nullable=False),  # applied approved active suspended revoked expired
    Column("kid", String(64), nullable=True),  # keystore key (purpose "seal", owner = esid)
    Column("cert_ca", String(32), nullable=True),
    Column("cert_serial", String(64), nullable=True),  # upper-case hex
    Column("cert_der", LargeBinary, nullable=True),
    Column("seseal_der", LargeBinary, nullable=True),  # GB/T 38540 V4 SESeal (the .esl file)
    Column("image_png", LargeBinary, nullable=True),
    Column("image_svg", Text, nullable=True),
    Column("width_mm", Integer, nullable=False),
    Column("height_mm", Integer, nullable=False),
    Column("valid_from", UTCDateTime, nullable=True),
    Column("valid_to", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_seal_seals_holder", "holder_kind", "holder_id"),
)

# Every lifecycle transition, with who and why. Append-only, and chained like seal_usage.
events_table = Table(
    "seal_events",
    metadata,
    Column("id", Integer, Identity(always=False), primary_key=True),
    Column("esid", String(32), nullable=False, index=True),
    Column("at", UTCDateTime, nullable=False),
    Column("event", String(24), nullable=False),  # applied approved made suspended resumed revoked expired granted
    Column("from_status", String(12), nullable=True),
    Column("to_status", String(12), nullable=True),
    Column("actor", String(128), nullable=False),
    Column("reason", Text, nullable=True),
    Column("detail", JSON, nullable=True),
    *link_columns("seal_events"),  # tamper evidence (keys/auditchain)
)

# Who may use a seal: keepers (a person, by sub; or a person acting for the holder org with a
# role) and authorised business clients (by client_id).
grants_table = Table(
    "seal_grants",
    metadata,
    Column("esid", String(32), primary_key=True),
    Column("grantee_kind", String(8), primary_key=True),  # client | person
    Column("grantee", String(64), primary_key=True),  # client_id or sub
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(128), nullable=False),
)

# Every use of a seal. Append-only: nothing updates or deletes these rows.
usage_table = Table(
    "seal_usage",
    metadata,
    Column("id", Integer, Identity(always=False), primary_key=True),
    Column("esid", String(32), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("caller", String(128), nullable=False),  # client_id, or "cli/<os user>"
    Column("subject", String(64), nullable=True),  # the person's sub, if any
    Column("org_uscc", String(32), nullable=True),
    Column("sm3_before", String(64), nullable=False),
    Column("sm3_after", String(64), nullable=False),
    Column("request_id", String(64), nullable=True),
    Column("client_ip", String(64), nullable=True),
    Column("detail", JSON, nullable=True),
    *link_columns("seal_usage"),  # tamper evidence (keys/auditchain)
    Index("ix_seal_usage_esid_at", "esid", "at"),
)

# The seal-making authority's keys and certificates (profile "seal-maker").
makers_table = Table(
    "seal_makers",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("cert_der", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# Batch sealing on the JobQueue: one row per job, one per document (input kept until sealed).
jobs_table = Table(
    "seal_jobs",
    metadata,
    Column("job_id", String(64), primary_key=True),
    Column("esid", String(32), nullable=False),
    Column("caller", String(128), nullable=False),
    Column("subject", String(64), nullable=True),
    Column("org_uscc", String(32), nullable=True),
    Column("request_id", String(64), nullable=True),
    Column("client_ip", String(64), nullable=True),
    Column("params", JSON, nullable=False),
    Column("status", String(12), nullable=False),  # queued running done failed
    Column("total", Integer, nullable=False),
    Column("done", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("queue_id", String(64), nullable=True),  # the JobQueue's id of the current run
    Column("attempts", Integer, nullable=False, server_default="1"),  # times put on the queue
    Column("heartbeat_at", UTCDateTime, nullable=True),  # queued, started, or a document done
)

job_documents_table = Table(
    "seal_job_documents",
    metadata,
    Column("job_id", String(64), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("name", String(255), nullable=True),
    Column("input", LargeBinary, nullable=True),  # dropped once sealed or refused
    Column("output", LargeBinary, nullable=True),
    Column("status", String(12), nullable=False),  # pending sealed refused failed (the job was lost)
    Column("error", Text, nullable=True),
    Column("sm3_before", String(64), nullable=True),
    Column("sm3_after", String(64), nullable=True),
)
