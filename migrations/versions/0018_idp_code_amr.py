"""idp: an authorization code keeps the amr of the sign-in it was issued in (idp_codes.amr), as
a session now continues through a step-up (idp/pages.py begin_session) and its amr may grow
before the code is redeemed.

Revision ID: 0018_idp_code_amr
Revises: 0017_baselib_licence
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_idp_code_amr"
down_revision = "0017_baselib_licence"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("idp_codes") as batch:
        batch.add_column(sa.Column("amr", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("idp_codes") as batch:
        batch.drop_column("amr")
