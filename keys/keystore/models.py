"""keys_ tables: the keystore's keys and its master-key check value."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, Index, LargeBinary, String, Table

from keys.storage import UTCDateTime, new_metadata

metadata = new_metadata()

KEY_STATES = ("pending", "active", "retiring", "retired")

keys_table = Table(
    "keys_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("algorithm", String(16), nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("owner", String(128), nullable=True),
    Column("state", String(16), nullable=False),
    Column("public_key_der", LargeBinary, nullable=False),
    # Software custody: version ‖ nonce ‖ SM4-GCM(PKCS#8) under the master key, AAD = kid and
    # algorithm. PKCS#11 custody: the token's object reference. Never a bare private key.
    Column("custody", String(16), nullable=False),
    Column("private_key_ref", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("activate_at", UTCDateTime, nullable=True),
    Column("activated_at", UTCDateTime, nullable=True),
    Column("retire_at", UTCDateTime, nullable=True),
    Column("retired_at", UTCDateTime, nullable=True),
    CheckConstraint("state IN ('pending', 'active', 'retiring', 'retired')", name="state"),
    CheckConstraint("algorithm IN ('sm2', 'p256', 'rsa2048', 'rsa3072')", name="algorithm"),
    Index("ix_keys_keys_purpose_state", "purpose", "state"),
)

meta_table = Table(
    "keys_meta",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(256), nullable=False),  # secrets: base64 of 1+12+n+16 bytes
)
