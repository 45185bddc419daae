"""idp: verified identities (real name; ID numbers encrypted, found by a keyed hash)

Revision ID: 0010_idp_identity
Revises: 0009_baselib
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from keys.storage import UTCDateTime

revision = "0010_idp_identity"
down_revision = "0009_baselib"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idp_identities",
        sa.Column("sub", sa.String(64), nullable=False),
        sa.Column("id_type", sa.String(16), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("id_number_enc", sa.LargeBinary(), nullable=False),
        sa.Column("id_number_hash", sa.LargeBinary(), nullable=False),
        sa.Column("trust_framework", sa.String(64), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("verified_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sub", name="pk_idp_identities"),
        sa.UniqueConstraint("id_number_hash", name="uq_idp_identities_id_number_hash"),
    )


def downgrade() -> None:
    op.drop_table("idp_identities")
