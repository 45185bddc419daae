"""idp: remembered consent per person, client and scope

Revision ID: 0005_idp_consents
Revises: 0004_idp_mfa
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from keys.storage import UTCDateTime

revision = "0005_idp_consents"
down_revision = "0004_idp_mfa"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idp_consents",
        sa.Column("sub", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("granted_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sub", "client_id", name="pk_idp_consents"),
    )


def downgrade() -> None:
    op.drop_table("idp_consents")
