"""idp: how an organisation was proven when a person acted for it (idp_acting.proof).

NULL: chosen from the person's authorisations only (the organisation's registered level);
"certificate": the organisation's own certificate was presented in that sign-in (org.acr loa:4).

Revision ID: 0016_idp_org_proof
Revises: 0015_idp_stepup
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_idp_org_proof"
down_revision = "0015_idp_stepup"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("idp_acting") as batch:
        batch.add_column(sa.Column("proof", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("idp_acting") as batch:
        batch.drop_column("proof")
