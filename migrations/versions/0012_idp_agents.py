"""idp: agents (经办人) of organisations, and acting for an organisation (scope org)

Revision ID: 0012_idp_agents
Revises: 0011_idp_organisations
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from keys.storage import UTCDateTime

revision = "0012_idp_agents"
down_revision = "0011_idp_organisations"
branch_labels = None
depends_on = None

OPEN = sa.text("status IN ('pending', 'active')")


def upgrade() -> None:
    op.create_table(
        "idp_agents",
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("agent_sub", sa.String(64), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("granted_by", sa.String(64), nullable=False),
        sa.Column("granted_at", UTCDateTime(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_by", sa.String(64), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("agent_id", name="pk_idp_agents"),
    )
    op.create_index("ix_idp_agents_uscc", "idp_agents", ["uscc"])
    op.create_index("ix_idp_agents_agent_sub", "idp_agents", ["agent_sub"])
    op.create_index("uq_idp_agents_open", "idp_agents", ["uscc", "agent_sub"], unique=True,
                    sqlite_where=OPEN, postgresql_where=OPEN)
    op.create_table(
        "idp_acting",
        sa.Column("code_hash", sa.LargeBinary(), nullable=False),
        sa.Column("grant_id", sa.String(64), nullable=True),
        sa.Column("sub", sa.String(64), nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("code_hash", name="pk_idp_acting"),
        sa.UniqueConstraint("grant_id", name="uq_idp_acting_grant_id"),
    )
    op.create_index("ix_idp_acting_agent_id", "idp_acting", ["agent_id"])


def downgrade() -> None:
    op.drop_table("idp_acting")
    op.drop_table("idp_agents")
