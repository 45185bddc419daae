"""idp: pushed authorization requests (RFC 9126)

Revision ID: 0007_idp_par
Revises: 0006_idp_dpop
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from keys.storage import UTCDateTime

revision = "0007_idp_par"
down_revision = "0006_idp_dpop"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idp_par_requests",
        sa.Column("request_uri_hash", sa.LargeBinary(), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("request_uri_hash", name="pk_idp_par_requests"),
    )


def downgrade() -> None:
    op.drop_table("idp_par_requests")
