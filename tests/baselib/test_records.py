"""baselib.records on both storage backends (the CLI tests run on SQLite), and the upgrade path of a
home migrated to 0010_idp_identity (as merged) to the organisations table of 0011."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from baselib.records import CsvImportError, Records
from tests.baselib.server import CSV, LI, STRONG_CSV, ZHANG, ZHANG_CARD, ZHANG_PHONE
from yitong import db


def test_import_and_lookups(storage):
    records = Records(storage.engine)
    assert records.import_csv(CSV.encode()).as_dict() == {"inserted": 8, "updated": 0, "unchanged": 0,
                                                          "persons": 5, "legal_persons": 3, "bank_cards": 0,
                                                          "mobiles": 0}
    assert records.import_csv(CSV.encode()).unchanged == 8
    assert records.counts() == {"persons": 5, "legal_persons": 3, "bank_cards": 0, "mobiles": 0}
    assert records.person(ZHANG[1]).name == ZHANG[0]
    renamed = CSV.replace(f"{LI[1]},{LI[0]}", f"{LI[1]},李四光")
    assert records.import_csv(renamed.encode()).updated == 1 and records.person(LI[1]).name == "李四光"
    with pytest.raises(CsvImportError) as caught:
        records.import_csv(CSV.encode() + b"person,123,x,,,active\n")
    assert caught.value.errors[0].startswith("line 10: ")
    assert records.person(LI[1]).name == "李四光"  # nothing written


def test_bank_cards_and_mobiles_import_and_lookups(storage):
    records = Records(storage.engine)
    report = records.import_csv(STRONG_CSV.encode()).as_dict()
    assert (report["inserted"], report["bank_cards"], report["mobiles"]) == (6, 2, 4)
    assert records.import_csv(STRONG_CSV.encode()).unchanged == 6
    card = records.bank_card(ZHANG_CARD)
    assert (card.id_number, card.name, card.phone, card.status) == (ZHANG[1], ZHANG[0], ZHANG_PHONE, "active")
    assert records.mobile(ZHANG_PHONE).id_number == ZHANG[1] and records.bank_card("6222") is None
    # A changed reserved phone updates the card; keys are the card and the phone number.
    moved = STRONG_CSV.replace(f"{ZHANG_CARD},{ZHANG_PHONE}", f"{ZHANG_CARD},13811112222")
    assert records.import_csv(moved.encode()).updated == 1 and records.bank_card(ZHANG_CARD).phone == "13811112222"
    header = "kind,id_number,name,card_number,phone,status\n"
    for row, message in ((f"bank_card,{ZHANG[1]},{ZHANG[0]},12345,{ZHANG_PHONE},active", "12-19 digits"),
                         (f"bank_card,{ZHANG[1]},{ZHANG[0]},{ZHANG_CARD},12345,active", "mainland mobile"),
                         (f"mobile,{ZHANG[1]},{ZHANG[0]},,{ZHANG_PHONE},frozen", "suspended"),
                         (f"mobile,{ZHANG[1]},{ZHANG[0]},{ZHANG_CARD},{ZHANG_PHONE},active", "no card_number"),
                         (f"person,{ZHANG[1]},{ZHANG[0]},,{ZHANG_PHONE},active", "no card_number or phone"),
                         (f"bank_card,{ZHANG[1][:-1]}1,{ZHANG[0]},{ZHANG_CARD},{ZHANG_PHONE},active", "GB 11643")):
        with pytest.raises(CsvImportError) as caught:
            records.import_csv((header + row + "\n").encode())
        assert caught.value.errors[0].startswith("line 2: ") and message in caught.value.errors[0], caught.value
        assert ZHANG_CARD not in caught.value.errors[0] and ZHANG_PHONE not in caught.value.errors[0]
    with pytest.raises(CsvImportError) as caught:
        records.import_csv((header + f"mobile,{LI[1]},{LI[0]},,{ZHANG_PHONE},active\n"
                            f"mobile,{ZHANG[1]},{ZHANG[0]},,{ZHANG_PHONE},active\n").encode())
    assert "repeats line 2" in caught.value.errors[0]


def test_a_home_at_0010_upgrades_to_the_organisations_table(tmp_path):
    engine = db.make_engine(make_url(f"sqlite:///{tmp_path / 'old.db'}"))
    config = db._alembic_config(engine.url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0010_idp_identity")
    assert "idp_organisations" not in inspect(engine).get_table_names()
    db.upgrade(engine)
    assert "idp_organisations" in inspect(engine).get_table_names()
    db.check_at_head(engine)
    engine.dispose()
