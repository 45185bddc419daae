"""idp: DPoP key binding of grants (RFC 9449)

Revision ID: 0006_idp_dpop
Revises: 0005_idp_consents
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_idp_dpop"
down_revision = "0005_idp_consents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("idp_grants") as batch:
        batch.add_column(sa.Column("dpop_jkt", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("idp_grants") as batch:
        batch.drop_column("dpop_jkt")
