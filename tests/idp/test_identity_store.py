"""Verified identities: ID numbers encrypted (SM4-GCM, bound to the account), found by keyed hash,
one account per ID number; on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from idp.identity import Identities, IdentityTaken
from idp.models import identities_table
from keys.errors import DecryptionError
from tests.idp.support import make_idp

ID_A = "11010519491231002X"
ID_B = "110101198506151233"


@pytest.fixture
def identities(storage, tmp_path):
    idp = make_idp(storage, tmp_path)
    return Identities(idp.home.engine, idp.home.keystore())


def test_id_numbers_are_stored_encrypted_and_found_by_keyed_hash(identities):
    record = identities.bind("sub-a", id_type="resident", name="张三", id_number="11010519491231002x",
                             trust_framework="cn_population_library", evidence={"type": "electronic_record"})
    assert record.id_number_masked == "110105********002X" and record.name == "张三"
    with identities.engine.connect() as conn:
        row = conn.execute(select(identities_table)).one()
    assert ID_A.encode() not in row.id_number_enc and b"002X" not in row.id_number_enc
    assert ID_A.encode() not in row.id_number_hash and len(row.id_number_hash) == 32
    assert identities.sub_for_id_number(" 110105 19491231002x") == "sub-a"
    assert identities.sub_for_id_number(ID_B) is None
    assert identities.id_number("sub-a") == ID_A


def test_one_id_number_belongs_to_one_account(identities):
    identities.bind("sub-a", id_type="resident", name="张三", id_number=ID_A, trust_framework="x", evidence={})
    with pytest.raises(IdentityTaken):
        identities.bind("sub-b", id_type="resident", name="张三", id_number=ID_A, trust_framework="x", evidence={})
    with pytest.raises(IdentityTaken):  # and one verified identity per account
        identities.bind("sub-a", id_type="resident", name="李四", id_number=ID_B, trust_framework="x", evidence={})
    assert identities.get("sub-b") is None


def test_a_ciphertext_moved_to_another_account_does_not_decrypt(identities):
    identities.bind("sub-a", id_type="resident", name="张三", id_number=ID_A, trust_framework="x", evidence={})
    identities.bind("sub-b", id_type="resident", name="李四", id_number=ID_B, trust_framework="x", evidence={})
    with identities.engine.begin() as conn:
        column, who = identities_table.c.id_number_enc, identities_table.c.sub
        stolen = conn.execute(select(column).where(who == "sub-a")).scalar()
        conn.execute(update(identities_table).where(identities_table.c.sub == "sub-b").values(id_number_enc=stolen))
    with pytest.raises(DecryptionError):
        identities.id_number("sub-b")
