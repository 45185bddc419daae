"""baselib_ tables: the reference base library's records (a stand-in, never real data)."""

from __future__ import annotations

from sqlalchemy import Column, String, Table

from keys.storage import UTCDateTime, new_metadata

metadata = new_metadata()

# The population library: one row per resident ID (or HK/MO/TW residence permit) number.
persons_table = Table(
    "baselib_persons",
    metadata,
    Column("id_number", String(18), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("status", String(16), nullable=False),  # active / cancelled / deceased
    Column("updated_at", UTCDateTime, nullable=False),
)

# The legal-person library and the e-business-licence system: one row per USCC.
legal_persons_table = Table(
    "baselib_legal_persons",
    metadata,
    Column("uscc", String(18), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("legal_representative", String(128), nullable=False),
    Column("legal_representative_id_number", String(18), nullable=True),
    Column("status", String(16), nullable=False),  # active / revoked / cancelled
    Column("updated_at", UTCDateTime, nullable=False),
)
