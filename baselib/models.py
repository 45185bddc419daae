"""baselib_ tables: the reference base library's records (a stand-in, never real data): the population and
legal-person libraries, a bank's card register and a carrier's subscriber register."""

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

# A bank's card register (the bank-card 4-factor check, 银行卡四要素): one row per card number, with
# the holder's name and ID number and the phone number reserved with the bank (预留手机号).
bank_cards_table = Table(
    "baselib_bank_cards",
    metadata,
    Column("card_number", String(19), primary_key=True),
    Column("id_number", String(18), nullable=False),
    Column("name", String(128), nullable=False),
    Column("phone", String(11), nullable=False),
    Column("status", String(16), nullable=False),  # active / frozen / cancelled
    Column("updated_at", UTCDateTime, nullable=False),
)

# A mobile carrier's subscriber register (the carrier 3-factor check, 运营商三要素): one row per
# mobile number, with the real-name subscriber's name and ID number.
mobiles_table = Table(
    "baselib_mobiles",
    metadata,
    Column("phone", String(11), primary_key=True),
    Column("id_number", String(18), nullable=False),
    Column("name", String(128), nullable=False),
    Column("status", String(16), nullable=False),  # active / suspended / cancelled
    Column("updated_at", UTCDateTime, nullable=False),
)

# The e-business-licence system's sign-in by licence (电子营业执照扫码登录): a relying party starts a
# presentation, the licence holder confirms it in the e-licence app (here: the stand-in page
# /baselib/licence/present/<id>), and the relying party reads the result once. Short-lived.
licence_presentations_table = Table(
    "baselib_licence_presentations",
    metadata,
    Column("presentation_id", String(43), primary_key=True),  # 256-bit random, a capability
    Column("relying_party", String(200), nullable=False),
    Column("status", String(16), nullable=False),  # pending / confirmed / declined
    Column("uscc", String(18), nullable=True),
    Column("holder_name", String(128), nullable=True),
    Column("holder_id_number", String(18), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("decided_at", UTCDateTime, nullable=True),
)
