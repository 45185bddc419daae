"""keystore: keys_keys and keys_meta

Revision ID: 0001_keystore
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from keys.storage import UTCDateTime

revision = "0001_keystore"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "keys_keys",
        sa.Column("kid", sa.String(64), nullable=False),
        sa.Column("algorithm", sa.String(16), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("owner", sa.String(128), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("public_key_der", sa.LargeBinary(), nullable=False),
        sa.Column("custody", sa.String(16), nullable=False),
        sa.Column("private_key_ref", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("activate_at", UTCDateTime(), nullable=True),
        sa.Column("activated_at", UTCDateTime(), nullable=True),
        sa.Column("retire_at", UTCDateTime(), nullable=True),
        sa.Column("retired_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint("state IN ('pending', 'active', 'retiring', 'retired')", name="ck_keys_keys_state"),
        sa.CheckConstraint("algorithm IN ('sm2', 'p256', 'rsa2048', 'rsa3072')", name="ck_keys_keys_algorithm"),
        sa.PrimaryKeyConstraint("kid", name="pk_keys_keys"),
    )
    op.create_index("ix_keys_keys_purpose_state", "keys_keys", ["purpose", "state"])
    op.create_table(
        "keys_meta",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.String(256), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_keys_meta"),
    )


def downgrade() -> None:
    op.drop_table("keys_meta")
    op.drop_index("ix_keys_keys_purpose_state", table_name="keys_keys")
    op.drop_table("keys_keys")
