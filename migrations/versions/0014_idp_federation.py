"""idp: upstream identity providers (national-platform federation) and the links they made;
verified_claims requests of the claims parameter

Revision ID: 0014_idp_federation
Revises: 0013_idp_accounts
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from keys.storage import UTCDateTime

revision = "0014_idp_federation"
down_revision = "0013_idp_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idp_federation_upstreams",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("label", sa.String(128), nullable=False),
        sa.Column("issuer", sa.String(255), nullable=False),
        sa.Column("client_id", sa.String(255), nullable=False),
        sa.Column("client_secret_enc", sa.LargeBinary(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("claims", sa.JSON(), nullable=False),
        sa.Column("level_map", sa.JSON(), nullable=False),
        sa.Column("max_acr", sa.String(32), nullable=False),
        sa.Column("trust_framework", sa.String(64), nullable=False),
        sa.Column("ca_file", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_idp_federation_upstreams"),
    )
    op.create_table(
        "idp_federation_links",
        sa.Column("upstream", sa.String(32), nullable=False),
        sa.Column("upstream_sub", sa.String(255), nullable=False),
        sa.Column("sub", sa.String(64), nullable=False),
        sa.Column("first_at", UTCDateTime(), nullable=False),
        sa.Column("last_at", UTCDateTime(), nullable=False),
        sa.Column("last_acr", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("upstream", "upstream_sub", name="pk_idp_federation_links"),
    )
    with op.batch_alter_table("idp_federation_links") as batch_op:
        batch_op.create_index("ix_idp_federation_links_sub", ["sub"])
    op.create_table(
        "idp_claims_requests",
        sa.Column("code_hash", sa.LargeBinary(), nullable=False),
        sa.Column("grant_id", sa.String(64), nullable=True),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("code_hash", name="pk_idp_claims_requests"),
    )
    with op.batch_alter_table("idp_claims_requests") as batch_op:
        batch_op.create_index("ix_idp_claims_requests_grant_id", ["grant_id"])


def downgrade() -> None:
    op.drop_table("idp_claims_requests")
    op.drop_table("idp_federation_links")
    op.drop_table("idp_federation_upstreams")
