"""licence: the holder's wallet (issue 15 items 5): showings (亮证) and the record of uses (用证记录).

Revision ID: 0024_licence_wallet
Revises: 0023_seal_events_chain
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from keys.storage import UTCDateTime

revision = "0024_licence_wallet"
down_revision = "0023_seal_events_chain"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "licence_showings",
        sa.Column("showing_id", sa.String(32), primary_key=True),
        sa.Column("licence_id", sa.String(96), nullable=False),
        sa.Column("holder_sub", sa.String(128), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_licence_showings_licence_id", "licence_showings", ["licence_id"])
    op.create_table(
        "licence_uses",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), primary_key=True),
        sa.Column("licence_id", sa.String(96), nullable=False),
        sa.Column("showing_id", sa.String(32), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("event", sa.String(12), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
    )
    op.create_index("ix_licence_uses_licence_id", "licence_uses", ["licence_id"])


def downgrade() -> None:
    op.drop_table("licence_uses")
    op.drop_table("licence_showings")
