"""idp: self-service accounts — SMS one-time codes, privacy consents, account deletion tombstones

Revision ID: 0013_idp_accounts
Revises: 0012_idp_agents
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from keys.storage import UTCDateTime

revision = "0013_idp_accounts"
down_revision = "0012_idp_agents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idp_otps",
        sa.Column("challenge_id", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(24), nullable=False),
        sa.Column("phone_hash", sa.LargeBinary(), nullable=False),
        sa.Column("code_hash", sa.LargeBinary(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("challenge_id", name="pk_idp_otps"),
    )
    with op.batch_alter_table("idp_otps") as batch_op:
        batch_op.create_index("ix_idp_otps_expires_at", ["expires_at"])
    op.create_table(
        "idp_privacy_consents",
        sa.Column("id", sa.Integer(), sa.Identity(), nullable=False),
        sa.Column("sub", sa.String(64), nullable=False),
        sa.Column("document", sa.String(48), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("consented_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_idp_privacy_consents"),
    )
    with op.batch_alter_table("idp_privacy_consents") as batch_op:
        batch_op.create_index("ix_idp_privacy_consents_sub", ["sub"])
    with op.batch_alter_table("idp_users") as batch_op:
        batch_op.add_column(sa.Column("deleted_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("idp_users") as batch_op:
        batch_op.drop_column("deleted_at")
    op.drop_table("idp_privacy_consents")
    op.drop_table("idp_otps")
