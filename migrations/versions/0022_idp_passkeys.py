"""idp: the tables of issue 18 (pages a citizen understands): client logos set by operators and
served by us (idp_client_logos).

Revision ID: 0022_idp_passkeys
Revises: 0019_seal_job_queue
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from keys.storage import UTCDateTime

revision = "0022_idp_passkeys"
down_revision = "0019_seal_job_queue"
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


def downgrade() -> None:
    op.drop_table("idp_client_logos")
