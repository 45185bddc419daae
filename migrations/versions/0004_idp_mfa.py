"""idp: TOTP secret (wrapped) and recovery-code hashes on accounts

Revision ID: 0004_idp_mfa
Revises: 0003_idp
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_idp_mfa"
down_revision = "0003_idp"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("idp_users") as batch:
        batch.add_column(sa.Column("totp_secret_wrapped", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("recovery_hashes", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("idp_users") as batch:
        batch.drop_column("recovery_hashes")
        batch.drop_column("totp_secret_wrapped")
