"""baselib: the reference bank-card and mobile-subscriber registers behind the bank-card 4-factor and
carrier 3-factor checks (urn:yitong:loa:3, idp/realname/strong.py). The IdP itself keeps no new table:
its loa:3 evidence goes with the verified identity (idp_identities.evidence), never a card number.

Revision ID: 0015_idp_stepup
Revises: 0014_idp_federation
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from keys.storage import UTCDateTime

revision = "0015_idp_stepup"
down_revision = "0014_idp_federation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "baselib_bank_cards",
        sa.Column("card_number", sa.String(19), nullable=False),
        sa.Column("id_number", sa.String(18), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("phone", sa.String(11), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("card_number", name="pk_baselib_bank_cards"),
    )
    op.create_table(
        "baselib_mobiles",
        sa.Column("phone", sa.String(11), nullable=False),
        sa.Column("id_number", sa.String(18), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("phone", name="pk_baselib_mobiles"),
    )


def downgrade() -> None:
    op.drop_table("baselib_mobiles")
    op.drop_table("baselib_bank_cards")
