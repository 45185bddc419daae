"""baselib: the reference base library (population and legal-person records)

Revision ID: 0009_baselib
Revises: 0008_seal
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from keys.storage import UTCDateTime

revision = "0009_baselib"
down_revision = "0008_seal"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "baselib_persons",
        sa.Column("id_number", sa.String(18), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id_number", name="pk_baselib_persons"),
    )
    op.create_table(
        "baselib_legal_persons",
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("legal_representative", sa.String(128), nullable=False),
        sa.Column("legal_representative_id_number", sa.String(18), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("uscc", name="pk_baselib_legal_persons"),
    )


def downgrade() -> None:
    op.drop_table("baselib_legal_persons")
    op.drop_table("baselib_persons")
