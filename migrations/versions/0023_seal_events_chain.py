"""seal: the seals' lifecycle events (seal_events: applied, approved, made, suspended, resumed,
revoked, granted, refused operator actions) join the tamper-evident audit trail (issue 17):
chain_seq and chain_mac as on idp_audit and seal_usage, a head in keys_audit_heads (rows already
there predate the chain), and the archive-aware append-only triggers of 0021 in place of 0008's.

Revision ID: 0023_seal_events_chain
Revises: 0022_idp_passkeys
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0023_seal_events_chain"
down_revision = "0022_idp_passkeys"
branch_labels = None
depends_on = None

TABLE = "seal_events"
GENESIS = "0" * 64
# Only records archived by `yitong audit archive` may be deleted (as 0021 for the other chains).
_ARCHIVED = ("(OLD.chain_seq IS NOT NULL AND OLD.chain_seq <= (SELECT base_seq FROM keys_audit_heads "
             "WHERE chain = 'seal_events')) OR (OLD.chain_seq IS NULL AND OLD.id <= (SELECT legacy_archived_id "
             "FROM keys_audit_heads WHERE chain = 'seal_events'))")


def upgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        batch.add_column(sa.Column("chain_seq", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("chain_mac", sa.String(64), nullable=True))
        batch.create_index(f"ix_{TABLE}_chain_seq", ["chain_seq"], unique=True)
    bind = op.get_bind()
    legacy = bind.execute(sa.text(f"SELECT max(id) FROM {TABLE}")).scalar() or 0  # noqa: S608 (a constant name)
    heads = sa.table("keys_audit_heads", sa.column("chain"), sa.column("seq"), sa.column("mac"),
                     sa.column("base_seq"), sa.column("base_mac"), sa.column("legacy_max_id"),
                     sa.column("legacy_archived_id"), sa.column("checkpoint_seq"), sa.column("checkpoint_at"))
    op.bulk_insert(heads, [{"chain": TABLE, "seq": 0, "mac": GENESIS, "base_seq": 0, "base_mac": GENESIS,
                            "legacy_max_id": legacy, "legacy_archived_id": 0, "checkpoint_seq": 0,
                            "checkpoint_at": None}])
    if bind.dialect.name == "postgresql":  # audit_chain_append_only() is 0021's; the TRUNCATE guard stays
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}")
        op.execute(f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
                   "FOR EACH ROW EXECUTE FUNCTION audit_chain_append_only()")
        return
    for verb in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_{verb}")
    op.execute(f"CREATE TRIGGER {TABLE}_no_update BEFORE UPDATE ON {TABLE} "
               f"BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only'); END")
    op.execute(f"CREATE TRIGGER {TABLE}_no_delete BEFORE DELETE ON {TABLE} WHEN NOT ({_ARCHIVED}) "
               f"BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only'); END")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}")
    else:
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_{verb}")
    op.execute(f"DELETE FROM keys_audit_heads WHERE chain = '{TABLE}'")  # noqa: S608 (a constant name)
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_index(f"ix_{TABLE}_chain_seq")
        batch.drop_column("chain_mac")
        batch.drop_column("chain_seq")
    if bind.dialect.name == "postgresql":
        op.execute(f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
                   "FOR EACH ROW EXECUTE FUNCTION seal_append_only()")
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {TABLE}_no_{verb.lower()} BEFORE {verb} ON {TABLE} "
                       f"BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only'); END")
