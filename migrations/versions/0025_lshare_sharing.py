"""licence: the sharing service (issue 15 item 6): legal sharing grants, and who used a licence, why
and how in licence_uses.

Revision ID: 0025_lshare_sharing
Revises: 0024_licence_wallet
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from keys.storage import UTCDateTime

revision = "0025_lshare_sharing"
down_revision = "0024_licence_wallet"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "licence_share_grants",
        sa.Column("grant_id", sa.String(32), primary_key=True),
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("type_codes", sa.JSON(), nullable=False),
        sa.Column("purpose", sa.String(200), nullable=False),
        sa.Column("sensitive", sa.Boolean(), nullable=False),
        sa.Column("basis", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_by", sa.String(128), nullable=True),
    )
    op.create_index("ix_licence_share_grants_client_id", "licence_share_grants", ["client_id"])
    with op.batch_alter_table("licence_uses") as batch:
        batch.add_column(sa.Column("client_id", sa.String(128), nullable=True))
        batch.add_column(sa.Column("purpose", sa.String(200), nullable=True))
        batch.add_column(sa.Column("operation", sa.String(12), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("licence_uses") as batch:
        batch.drop_column("operation")
        batch.drop_column("purpose")
        batch.drop_column("client_id")
    op.drop_table("licence_share_grants")
