"""idp: organisations (legal persons) registered by their legal representative

Revision ID: 0011_idp_organisations
Revises: 0010_idp_identity
Create Date: 2026-11-28

A separate revision because 0010_idp_identity was already merged (homes at 0010 need this step).
"""

import sqlalchemy as sa
from alembic import op

from keys.storage import UTCDateTime

revision = "0011_idp_organisations"
down_revision = "0010_idp_identity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idp_organisations",
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("legal_representative_sub", sa.String(64), nullable=False),
        sa.Column("acr", sa.String(32), nullable=False),
        sa.Column("uscc_warnings", sa.JSON(), nullable=False),
        sa.Column("trust_framework", sa.String(64), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("verified_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("uscc", name="pk_idp_organisations"),
    )
    with op.batch_alter_table("idp_organisations") as batch_op:
        batch_op.create_index("ix_idp_organisations_legal_representative_sub", ["legal_representative_sub"])


def downgrade() -> None:
    op.drop_table("idp_organisations")
