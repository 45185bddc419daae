"""idp: accounts, clients, codes, grants, tokens, sessions, audit

Revision ID: 0003_idp
Revises: 0002_pki
Create Date: 2026-11-28 00:54:14.189568
"""

import sqlalchemy as sa
from alembic import op

from keys.storage import UTCDateTime

revision = '0003_idp'
down_revision = '0002_pki'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('idp_access_tokens',
    sa.Column('jti', sa.String(length=64), nullable=False),
    sa.Column('grant_id', sa.String(length=64), nullable=True),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('expires_at', UTCDateTime(), nullable=False),
    sa.Column('revoked_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('jti', name=op.f('pk_idp_access_tokens'))
    )
    with op.batch_alter_table('idp_access_tokens', schema=None) as batch_op:
        batch_op.create_index('ix_idp_access_tokens_grant_id', ['grant_id'], unique=False)

    op.create_table('idp_audit',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.Column('event', sa.String(length=48), nullable=False),
    sa.Column('sub', sa.String(length=64), nullable=True),
    sa.Column('client_id', sa.String(length=64), nullable=True),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('user_agent', sa.String(length=256), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idp_audit'))
    )
    with op.batch_alter_table('idp_audit', schema=None) as batch_op:
        batch_op.create_index('ix_idp_audit_at', ['at'], unique=False)

    op.create_table('idp_clients',
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('secret_hash', sa.LargeBinary(), nullable=True),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('metadata', sa.JSON(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('client_id', name=op.f('pk_idp_clients'))
    )
    op.create_table('idp_codes',
    sa.Column('code_hash', sa.LargeBinary(), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('sub', sa.String(length=64), nullable=False),
    sa.Column('sid', sa.String(length=64), nullable=True),
    sa.Column('redirect_uri', sa.Text(), nullable=False),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('nonce', sa.Text(), nullable=True),
    sa.Column('code_challenge', sa.String(length=128), nullable=True),
    sa.Column('code_challenge_method', sa.String(length=8), nullable=True),
    sa.Column('resource', sa.Text(), nullable=True),
    sa.Column('acr', sa.String(length=32), nullable=True),
    sa.Column('auth_time', sa.BigInteger(), nullable=False),
    sa.Column('expires_at', UTCDateTime(), nullable=False),
    sa.Column('used_at', UTCDateTime(), nullable=True),
    sa.Column('grant_id', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('code_hash', name=op.f('pk_idp_codes'))
    )
    op.create_table('idp_grants',
    sa.Column('grant_id', sa.String(length=64), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('sub', sa.String(length=64), nullable=True),
    sa.Column('sid', sa.String(length=64), nullable=True),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('resource', sa.Text(), nullable=True),
    sa.Column('acr', sa.String(length=32), nullable=True),
    sa.Column('auth_time', sa.BigInteger(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('revoked_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('grant_id', name=op.f('pk_idp_grants'))
    )
    with op.batch_alter_table('idp_grants', schema=None) as batch_op:
        batch_op.create_index('ix_idp_grants_sub', ['sub'], unique=False)

    op.create_table('idp_refresh_tokens',
    sa.Column('token_hash', sa.LargeBinary(), nullable=False),
    sa.Column('grant_id', sa.String(length=64), nullable=False),
    sa.Column('expires_at', UTCDateTime(), nullable=False),
    sa.Column('used_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_idp_refresh_tokens'))
    )
    with op.batch_alter_table('idp_refresh_tokens', schema=None) as batch_op:
        batch_op.create_index('ix_idp_refresh_tokens_grant_id', ['grant_id'], unique=False)

    op.create_table('idp_sessions',
    sa.Column('sid_hash', sa.LargeBinary(), nullable=False),
    sa.Column('sid', sa.String(length=64), nullable=False),
    sa.Column('sub', sa.String(length=64), nullable=False),
    sa.Column('acr', sa.String(length=32), nullable=False),
    sa.Column('amr', sa.JSON(), nullable=False),
    sa.Column('auth_time', sa.BigInteger(), nullable=False),
    sa.Column('expires_at', UTCDateTime(), nullable=False),
    sa.Column('ended_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('sid_hash', name=op.f('pk_idp_sessions')),
    sa.UniqueConstraint('sid', name=op.f('uq_idp_sessions_sid'))
    )
    op.create_table('idp_users',
    sa.Column('sub', sa.String(length=64), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=True),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('password_hash', sa.String(length=256), nullable=True),
    sa.Column('acr', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=True),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('sub', name=op.f('pk_idp_users')),
    sa.UniqueConstraint('phone', name=op.f('uq_idp_users_phone')),
    sa.UniqueConstraint('username', name=op.f('uq_idp_users_username'))
    )


def downgrade() -> None:
    op.drop_table('idp_users')
    op.drop_table('idp_sessions')
    with op.batch_alter_table('idp_refresh_tokens', schema=None) as batch_op:
        batch_op.drop_index('ix_idp_refresh_tokens_grant_id')

    op.drop_table('idp_refresh_tokens')
    with op.batch_alter_table('idp_grants', schema=None) as batch_op:
        batch_op.drop_index('ix_idp_grants_sub')

    op.drop_table('idp_grants')
    op.drop_table('idp_codes')
    op.drop_table('idp_clients')
    with op.batch_alter_table('idp_audit', schema=None) as batch_op:
        batch_op.drop_index('ix_idp_audit_at')

    op.drop_table('idp_audit')
    with op.batch_alter_table('idp_access_tokens', schema=None) as batch_op:
        batch_op.drop_index('ix_idp_access_tokens_grant_id')

    op.drop_table('idp_access_tokens')
