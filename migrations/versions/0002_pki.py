"""pki: keys_cas, keys_certificates, keys_crls

Revision ID: 0002_pki
Revises: 0001_keystore
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from keys.storage import UTCDateTime

revision = "0002_pki"
down_revision = "0001_keystore"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "keys_cas",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("algorithm", sa.String(16), nullable=False),
        sa.Column("parent", sa.String(32), nullable=True),
        sa.Column("kid", sa.String(64), nullable=False),
        sa.Column("cert_der", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_keys_cas"),
    )
    op.create_table(
        "keys_certificates",
        sa.Column("ca", sa.String(32), nullable=False),
        sa.Column("serial", sa.String(40), nullable=False),
        sa.Column("profile", sa.String(16), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("kid", sa.String(64), nullable=True),
        sa.Column("not_before", UTCDateTime(), nullable=False),
        sa.Column("not_after", UTCDateTime(), nullable=False),
        sa.Column("cert_der", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("ca", "serial", name="pk_keys_certificates"),
        sa.CheckConstraint("status IN ('good', 'hold', 'revoked')", name="ck_keys_certificates_status"),
    )
    op.create_index("ix_keys_certificates_ca_status", "keys_certificates", ["ca", "status"])
    op.create_table(
        "keys_crls",
        sa.Column("ca", sa.String(32), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("this_update", UTCDateTime(), nullable=False),
        sa.Column("next_update", UTCDateTime(), nullable=False),
        sa.Column("crl_der", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("ca", name="pk_keys_crls"),
    )


def downgrade() -> None:
    op.drop_table("keys_crls")
    op.drop_index("ix_keys_certificates_ca_status", table_name="keys_certificates")
    op.drop_table("keys_certificates")
    op.drop_table("keys_cas")
