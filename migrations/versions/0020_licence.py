"""licence: the catalogue, the licence library, its events, serials, issuing clients and
idempotency keys and API batch imports (licence/models.py).

Revision ID: 0020_licence
Revises: 0019_seal_job_queue
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from keys.storage import UTCDateTime

revision = "0020_licence"
down_revision = "0019_seal_job_queue"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "licence_types",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("authority_uscc", sa.String(18), nullable=False),
        sa.Column("esid", sa.String(32), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_licence_types_authority_uscc", "licence_types", ["authority_uscc"])
    op.create_table(
        "licence_licences",
        sa.Column("licence_id", sa.String(96), primary_key=True),
        sa.Column("type_code", sa.String(32), nullable=False),
        sa.Column("issuer_uscc", sa.String(18), nullable=False),
        sa.Column("serial", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(64), nullable=False),
        sa.Column("holder_kind", sa.String(8), nullable=False),
        sa.Column("holder_id", sa.String(64), nullable=False),
        sa.Column("holder_name", sa.String(128), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("format", sa.String(4), nullable=False),
        sa.Column("file", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("esid", sa.String(32), nullable=False),
        sa.Column("supersedes", sa.String(96), nullable=True),
        sa.Column("superseded_by", sa.String(96), nullable=True),
        sa.Column("client_id", sa.String(128), nullable=True),
        sa.Column("row_key", sa.String(128), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("type_code", "serial", "version", name="uq_licence_serial_version"),
        sa.UniqueConstraint("type_code", "row_key", name="uq_licence_row_key"),
    )
    op.create_index("ix_licence_holder", "licence_licences", ["holder_kind", "holder_id"])
    op.create_table(
        "licence_events",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), primary_key=True),
        sa.Column("licence_id", sa.String(96), nullable=True),
        sa.Column("type_code", sa.String(32), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("event", sa.String(24), nullable=False),
        sa.Column("from_status", sa.String(12), nullable=True),
        sa.Column("to_status", sa.String(12), nullable=True),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
    )
    op.create_index("ix_licence_events_licence_id", "licence_events", ["licence_id"])
    op.create_table(
        "licence_serials",
        sa.Column("type_code", sa.String(32), primary_key=True),
        sa.Column("last", sa.Integer(), nullable=False),
    )
    op.create_table(
        "licence_issuer_clients",
        sa.Column("client_id", sa.String(128), primary_key=True),
        sa.Column("authority_uscc", sa.String(18), primary_key=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
    )
    op.create_table(
        "licence_idempotency",
        sa.Column("client_id", sa.String(128), primary_key=True),
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column("licence_id", sa.String(96), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "licence_batches",
        sa.Column("batch_id", sa.String(64), primary_key=True),
        sa.Column("type_code", sa.String(32), nullable=False),
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("format", sa.String(4), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("input", sa.LargeBinary(), nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("issued", sa.Integer(), nullable=False),
        sa.Column("existing", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
    )


def downgrade() -> None:
    for table in ("licence_batches", "licence_idempotency", "licence_issuer_clients", "licence_serials",
                  "licence_events", "licence_licences", "licence_types"):
        op.drop_table(table)
