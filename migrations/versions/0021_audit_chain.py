"""keys/idp/seal: tamper-evident audit (issue 17 item 4) and operator roles (idp_operators, items 1-2).
position and HMAC-SM3 link (chain_seq, chain_mac); keys_audit_heads holds each chain's newest
link (updating it serialises appends), keys_audit_checkpoints the TSA-stamped checkpoints. Rows
already there predate the chain (legacy_max_id): `yitong audit verify` counts them apart.

Revision ID: 0021_audit_chain
Revises: 0020_licence
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from keys.storage import UTCDateTime

revision = "0021_audit_chain"
down_revision = "0020_licence"
branch_labels = None
depends_on = None

CHAINS = ("idp_audit", "seal_usage")
GENESIS = "0" * 64


def upgrade() -> None:
    for table in CHAINS:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("chain_seq", sa.BigInteger(), nullable=True))
            batch.add_column(sa.Column("chain_mac", sa.String(64), nullable=True))
            batch.create_index(f"ix_{table}_chain_seq", ["chain_seq"], unique=True)
    heads = op.create_table(
        "keys_audit_heads",
        sa.Column("chain", sa.String(48), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("mac", sa.String(64), nullable=False),
        sa.Column("base_seq", sa.BigInteger(), nullable=False),
        sa.Column("base_mac", sa.String(64), nullable=False),
        sa.Column("legacy_max_id", sa.BigInteger(), nullable=False),
        sa.Column("legacy_archived_id", sa.BigInteger(), nullable=False),
        sa.Column("checkpoint_seq", sa.BigInteger(), nullable=False),
        sa.Column("checkpoint_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("chain", name="pk_keys_audit_heads"),
    )
    op.create_table(
        "keys_audit_checkpoints",
        sa.Column("id", sa.Integer(), sa.Identity(), nullable=False),
        sa.Column("chain", sa.String(48), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("mac", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("statement_mac", sa.String(64), nullable=False),
        sa.Column("tst", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_keys_audit_checkpoints"),
        sa.UniqueConstraint("chain", "seq", name="uq_keys_audit_checkpoints_chain"),
    )
    op.create_table(  # idp_operators: the operator roles (三员分立) the admin API enforces
        "idp_operators",
        sa.Column("sub", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("granted_by", sa.String(64), nullable=True),
        sa.Column("granted_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("role IN ('system', 'security', 'audit')", name="ck_idp_operators_role"),
        sa.PrimaryKeyConstraint("sub", name="pk_idp_operators"),
    )
    with op.batch_alter_table("idp_users") as batch:  # a security administrator's lock (sign-in refused)
        batch.add_column(sa.Column("locked_at", UTCDateTime(), nullable=True))
    bind = op.get_bind()
    rows = []
    for table in CHAINS:
        legacy = bind.execute(sa.text(f"SELECT max(id) FROM {table}")).scalar() or 0  # noqa: S608 (constant names)
        rows.append({"chain": table, "seq": 0, "mac": GENESIS, "base_seq": 0, "base_mac": GENESIS,
                     "legacy_max_id": legacy, "legacy_archived_id": 0, "checkpoint_seq": 0, "checkpoint_at": None})
    op.bulk_insert(heads, rows)
    _append_only_triggers(bind.dialect.name)


# Rows of a chained table are never updated, and deleted only once archived (`yitong audit
# archive` moves the chain's base first). A database administrator can drop these triggers; the
# chain is what shows it then. seal_usage's triggers (0008) are replaced by these.
_ARCHIVED = ("(OLD.chain_seq IS NOT NULL AND OLD.chain_seq <= (SELECT base_seq FROM keys_audit_heads "
             "WHERE chain = '{table}')) OR (OLD.chain_seq IS NULL AND OLD.id <= (SELECT legacy_archived_id "
             "FROM keys_audit_heads WHERE chain = '{table}'))")


def _append_only_triggers(dialect: str) -> None:
    if dialect == "postgresql":
        op.execute("CREATE OR REPLACE FUNCTION audit_chain_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
                   "BEGIN IF TG_OP = 'DELETE' AND (" + _ARCHIVED.replace("'{table}'", "TG_TABLE_NAME") + ") "
                   "THEN RETURN OLD; END IF; RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$")
        op.execute("DROP TRIGGER IF EXISTS seal_usage_append_only ON seal_usage")
        for table in CHAINS:
            op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION audit_chain_append_only()")
        op.execute("CREATE TRIGGER idp_audit_no_truncate BEFORE TRUNCATE ON idp_audit "
                   "FOR EACH STATEMENT EXECUTE FUNCTION seal_append_only()")
        op.execute("CREATE TRIGGER keys_audit_checkpoints_append_only BEFORE UPDATE OR DELETE "
                   "ON keys_audit_checkpoints FOR EACH ROW EXECUTE FUNCTION seal_append_only()")
        return
    op.execute("DROP TRIGGER IF EXISTS seal_usage_no_update")
    op.execute("DROP TRIGGER IF EXISTS seal_usage_no_delete")
    for table in (*CHAINS, "keys_audit_checkpoints"):
        op.execute(f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
                   f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END")
        when = f"WHEN NOT ({_ARCHIVED.format(table=table)}) " if table in CHAINS else ""
        op.execute(f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} {when}"
                   f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in CHAINS:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP TRIGGER IF EXISTS idp_audit_no_truncate ON idp_audit")
        op.execute("DROP FUNCTION IF EXISTS audit_chain_append_only()")
        op.execute("CREATE TRIGGER seal_usage_append_only BEFORE UPDATE OR DELETE ON seal_usage "
                   "FOR EACH ROW EXECUTE FUNCTION seal_append_only()")
    else:
        for table in (*CHAINS, "keys_audit_checkpoints"):
            for verb in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER seal_usage_no_{verb.lower()} BEFORE {verb} ON seal_usage "
                       "BEGIN SELECT RAISE(ABORT, 'seal_usage is append-only'); END")
    with op.batch_alter_table("idp_users") as batch:
        batch.drop_column("locked_at")
    op.drop_table("idp_operators")
    op.drop_table("keys_audit_checkpoints")
    op.drop_table("keys_audit_heads")
    for table in CHAINS:
        with op.batch_alter_table(table) as batch:
            batch.drop_index(f"ix_{table}_chain_seq")
            batch.drop_column("chain_mac")
            batch.drop_column("chain_seq")
