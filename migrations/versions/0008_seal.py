"""seal: seals, lifecycle events, grants, usage log, seal makers, batch jobs

Revision ID: 0008_seal
Revises: 0007_idp_par
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from keys.storage import UTCDateTime

revision = "0008_seal"
down_revision = "0007_idp_par"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "seal_seals",
        sa.Column("esid", sa.String(32), nullable=False),
        sa.Column("holder_kind", sa.String(8), nullable=False),
        sa.Column("holder_id", sa.String(64), nullable=False),
        sa.Column("holder_name", sa.String(128), nullable=False),
        sa.Column("type", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("algorithm", sa.String(8), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("kid", sa.String(64), nullable=True),
        sa.Column("cert_ca", sa.String(32), nullable=True),
        sa.Column("cert_serial", sa.String(64), nullable=True),
        sa.Column("cert_der", sa.LargeBinary(), nullable=True),
        sa.Column("seseal_der", sa.LargeBinary(), nullable=True),
        sa.Column("image_png", sa.LargeBinary(), nullable=True),
        sa.Column("image_svg", sa.Text(), nullable=True),
        sa.Column("width_mm", sa.Integer(), nullable=False),
        sa.Column("height_mm", sa.Integer(), nullable=False),
        sa.Column("valid_from", UTCDateTime(), nullable=True),
        sa.Column("valid_to", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("esid", name=op.f("pk_seal_seals")),
    )
    op.create_index("ix_seal_seals_holder", "seal_seals", ["holder_kind", "holder_id"])
    op.create_table(
        "seal_events",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("esid", sa.String(32), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("event", sa.String(24), nullable=False),
        sa.Column("from_status", sa.String(12), nullable=True),
        sa.Column("to_status", sa.String(12), nullable=True),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seal_events")),
    )
    op.create_index("ix_seal_events_esid", "seal_events", ["esid"])
    op.create_table(
        "seal_grants",
        sa.Column("esid", sa.String(32), nullable=False),
        sa.Column("grantee_kind", sa.String(8), nullable=False),
        sa.Column("grantee", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("esid", "grantee_kind", "grantee", name=op.f("pk_seal_grants")),
    )
    op.create_table(
        "seal_usage",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("esid", sa.String(32), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("caller", sa.String(128), nullable=False),
        sa.Column("subject", sa.String(64), nullable=True),
        sa.Column("org_uscc", sa.String(32), nullable=True),
        sa.Column("sm3_before", sa.String(64), nullable=False),
        sa.Column("sm3_after", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("client_ip", sa.String(64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seal_usage")),
    )
    op.create_index("ix_seal_usage_esid_at", "seal_usage", ["esid", "at"])
    op.create_table(
        "seal_makers",
        sa.Column("kid", sa.String(64), nullable=False),
        sa.Column("cert_der", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_seal_makers")),
    )
    op.create_table(
        "seal_jobs",
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("esid", sa.String(32), nullable=False),
        sa.Column("caller", sa.String(128), nullable=False),
        sa.Column("subject", sa.String(64), nullable=True),
        sa.Column("org_uscc", sa.String(32), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("client_ip", sa.String(64), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_seal_jobs")),
    )
    op.create_table(
        "seal_job_documents",
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("input", sa.LargeBinary(), nullable=True),
        sa.Column("output", sa.LargeBinary(), nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("sm3_before", sa.String(64), nullable=True),
        sa.Column("sm3_after", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("job_id", "position", name=op.f("pk_seal_job_documents")),
    )
    _append_only("seal_usage")
    _append_only("seal_events")


def _append_only(table: str) -> None:
    """The usage log and the lifecycle audit refuse UPDATE and DELETE in the database itself."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE OR REPLACE FUNCTION seal_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
                   "BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$")
        op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION seal_append_only()")
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION seal_append_only()")
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                       f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in ("seal_usage", "seal_events"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS seal_append_only()")
    else:
        for table in ("seal_usage", "seal_events"):
            for verb in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
    op.drop_table("seal_job_documents")
    op.drop_table("seal_jobs")
    op.drop_table("seal_makers")
    op.drop_index("ix_seal_usage_esid_at", table_name="seal_usage")
    op.drop_table("seal_usage")
    op.drop_table("seal_grants")
    op.drop_index("ix_seal_events_esid", table_name="seal_events")
    op.drop_table("seal_events")
    op.drop_index("ix_seal_seals_holder", table_name="seal_seals")
    op.drop_table("seal_seals")
