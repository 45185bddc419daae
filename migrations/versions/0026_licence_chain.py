"""licence: a licence's history (licence_events: issued, revoked, expired, superseded, catalogue and
sharing-grant changes, refused operator actions) and its record of uses (licence_uses: showings,
views, answered sharing operations) join the tamper-evident audit trail (issue 17) as seal_events
and seal_usage did in 0021/0023: chain_seq and chain_mac, a head per table in keys_audit_heads
(rows already there predate the chain: `yitong audit verify` counts them apart), and 0021's
archive-aware append-only triggers, so neither table can be updated, or deleted from before
`yitong audit archive` moved the chain's base past the rows.

Revision ID: 0026_licence_chain
Revises: 0025_lshare_sharing
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0026_licence_chain"
down_revision = "0025_lshare_sharing"
branch_labels = None
depends_on = None

TABLES = ("licence_events", "licence_uses")
GENESIS = "0" * 64
# Only records archived by `yitong audit archive` may be deleted (0021's rule for the other chains).
_ARCHIVED = ("(OLD.chain_seq IS NOT NULL AND OLD.chain_seq <= (SELECT base_seq FROM keys_audit_heads "
             "WHERE chain = '{table}')) OR (OLD.chain_seq IS NULL AND OLD.id <= (SELECT legacy_archived_id "
             "FROM keys_audit_heads WHERE chain = '{table}'))")


def upgrade() -> None:
    bind = op.get_bind()
    heads = sa.table("keys_audit_heads", sa.column("chain"), sa.column("seq"), sa.column("mac"),
                     sa.column("base_seq"), sa.column("base_mac"), sa.column("legacy_max_id"),
                     sa.column("legacy_archived_id"), sa.column("checkpoint_seq"), sa.column("checkpoint_at"))
    rows = []
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("chain_seq", sa.BigInteger(), nullable=True))
            batch.add_column(sa.Column("chain_mac", sa.String(64), nullable=True))
            batch.create_index(f"ix_{table}_chain_seq", ["chain_seq"], unique=True)
        legacy = bind.execute(sa.text(f"SELECT max(id) FROM {table}")).scalar() or 0  # noqa: S608 (constant names)
        rows.append({"chain": table, "seq": 0, "mac": GENESIS, "base_seq": 0, "base_mac": GENESIS,
                     "legacy_max_id": legacy, "legacy_archived_id": 0, "checkpoint_seq": 0, "checkpoint_at": None})
    op.bulk_insert(heads, rows)
    for table in TABLES:
        if bind.dialect.name == "postgresql":  # audit_chain_append_only() is 0021's, seal_append_only() 0008's
            op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION audit_chain_append_only()")
            op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                       "FOR EACH STATEMENT EXECUTE FUNCTION seal_append_only()")
            continue
        op.execute(f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
                   f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END")
        op.execute(f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} WHEN NOT "
                   f"({_ARCHIVED.format(table=table)}) BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END")


def downgrade() -> None:
    bind = op.get_bind()
    _forget_checkpoints(bind.dialect.name)
    for table in TABLES:
        if bind.dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        else:
            for verb in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
        op.execute(f"DELETE FROM keys_audit_heads WHERE chain = '{table}'")  # noqa: S608 (constant names)
        with op.batch_alter_table(table) as batch:
            batch.drop_index(f"ix_{table}_chain_seq")
            batch.drop_column("chain_mac")
            batch.drop_column("chain_seq")


def _forget_checkpoints(dialect: str) -> None:
    """The two chains' checkpoints go with their heads: left behind, they would vouch for positions
    that a later upgrade's new chains have not reached ("records were deleted")."""
    chains = ", ".join(f"'{table}'" for table in TABLES)
    if dialect == "postgresql":
        op.execute("ALTER TABLE keys_audit_checkpoints DISABLE TRIGGER keys_audit_checkpoints_append_only")
        op.execute(f"DELETE FROM keys_audit_checkpoints WHERE chain IN ({chains})")  # noqa: S608 (constant names)
        op.execute("ALTER TABLE keys_audit_checkpoints ENABLE TRIGGER keys_audit_checkpoints_append_only")
        return
    op.execute("DROP TRIGGER IF EXISTS keys_audit_checkpoints_no_delete")
    op.execute(f"DELETE FROM keys_audit_checkpoints WHERE chain IN ({chains})")  # noqa: S608 (constant names)
    op.execute("CREATE TRIGGER keys_audit_checkpoints_no_delete BEFORE DELETE ON keys_audit_checkpoints "
               "BEGIN SELECT RAISE(ABORT, 'keys_audit_checkpoints is append-only'); END")
