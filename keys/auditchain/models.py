"""keys_audit_heads (one row per chain: its newest position and link) and keys_audit_checkpoints."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Identity, Index, Integer, LargeBinary, String, Table, UniqueConstraint

from keys.keystore.models import metadata
from keys.storage import UTCDateTime


def link_columns(table: str) -> tuple:
    """What a table needs to be chained: each record's position and its link (hex HMAC-SM3), NULL
    only for records from before its chain began, and the positions unique."""
    return (Column("chain_seq", BigInteger, nullable=True), Column("chain_mac", String(64), nullable=True),
            Index(f"ix_{table}_chain_seq", "chain_seq", unique=True))


# One row per chained table. Updating it first is what serialises appends: the row lock on
# PostgreSQL, the database write lock on SQLite.
heads_table = Table(
    "keys_audit_heads",
    metadata,
    Column("chain", String(48), primary_key=True),  # the chained table's name
    Column("seq", BigInteger, nullable=False),  # newest position (0: nothing chained yet)
    Column("mac", String(64), nullable=False),  # its link (hex HMAC-SM3)
    Column("base_seq", BigInteger, nullable=False),  # the last position archived and deleted (retention)
    Column("base_mac", String(64), nullable=False),  # its link: where the kept records start from
    Column("legacy_max_id", BigInteger, nullable=False),  # rows up to this id predate the chain
    Column("legacy_archived_id", BigInteger, nullable=False),  # ... and up to this one are archived
    Column("checkpoint_seq", BigInteger, nullable=False),
    Column("checkpoint_at", UTCDateTime, nullable=True),
)

checkpoints_table = Table(
    "keys_audit_checkpoints",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("chain", String(48), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("mac", String(64), nullable=False),  # the link of the record at seq
    Column("at", UTCDateTime, nullable=False),
    Column("statement_mac", String(64), nullable=False),  # HMAC-SM3 of the statement (chain key)
    Column("tst", LargeBinary, nullable=False),  # RFC 3161 token over SM3(statement), certificates included
    UniqueConstraint("chain", "seq"),
)
