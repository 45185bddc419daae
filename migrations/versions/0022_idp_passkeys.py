"""idp: the tables of issue 18 (pages a citizen understands): client logos set by operators and
served by us (idp_client_logos), and passkeys (idp_passkeys: WebAuthn credentials).

Revision ID: 0022_idp_passkeys
Revises: 0021_audit_chain
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from keys.storage import UTCDateTime

revision = "0022_idp_passkeys"
down_revision = "0021_audit_chain"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idp_client_logos",
        sa.Column("client_id", sa.String(64), primary_key=True),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "idp_passkeys",
        sa.Column("credential_id", sa.String(1400), primary_key=True),
        sa.Column("sub", sa.String(64), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("synced", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_idp_passkeys_sub", "idp_passkeys", ["sub"])


def downgrade() -> None:
    op.drop_index("ix_idp_passkeys_sub", table_name="idp_passkeys")
    op.drop_table("idp_passkeys")
    op.drop_table("idp_client_logos")
