"""seal: a batch job remembers its entry on the job queue (seal_jobs.queue_id), how many times it
was queued (attempts) and its last sign of life (heartbeat_at), so that a job whose queue entry
Redis lost is queued again once, then failed, instead of staying queued or running for ever.

Revision ID: 0019_seal_job_queue
Revises: 0018_idp_code_amr
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from keys.storage import UTCDateTime

revision = "0019_seal_job_queue"
down_revision = "0018_idp_code_amr"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("seal_jobs") as batch:
        batch.add_column(sa.Column("queue_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("heartbeat_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("seal_jobs") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("attempts")
        batch.drop_column("queue_id")
