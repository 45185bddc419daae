"""baselib: presentations of the electronic business licence (sign-in by e-licence, 电子营业执照登录)
in the reference e-licence system stand-in.

Revision ID: 0017_baselib_licence
Revises: 0016_idp_org_proof
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from keys.storage import UTCDateTime

revision = "0017_baselib_licence"
down_revision = "0016_idp_org_proof"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "baselib_licence_presentations",
        sa.Column("presentation_id", sa.String(43), nullable=False),
        sa.Column("relying_party", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("uscc", sa.String(18), nullable=True),
        sa.Column("holder_name", sa.String(128), nullable=True),
        sa.Column("holder_id_number", sa.String(18), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("presentation_id", name="pk_baselib_licence_presentations"),
    )


def downgrade() -> None:
    op.drop_table("baselib_licence_presentations")
