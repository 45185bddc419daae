"""baselib.records on both storage backends (the CLI tests run on SQLite), and the upgrade path of a
home migrated to 0010_idp_identity (as merged) to the organisations table of 0011."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from baselib.records import CsvImportError, Records
from tests.baselib.server import CSV, LI, ZHANG
from yitong import db


def test_import_and_lookups(storage):
    records = Records(storage.engine)
    assert records.import_csv(CSV.encode()).as_dict() == {"inserted": 8, "updated": 0, "unchanged": 0,
                                                          "persons": 5, "legal_persons": 3}
    assert records.import_csv(CSV.encode()).unchanged == 8
    assert records.counts() == {"persons": 5, "legal_persons": 3}
    assert records.person(ZHANG[1]).name == ZHANG[0]
    renamed = CSV.replace(f"{LI[1]},{LI[0]}", f"{LI[1]},李四光")
    assert records.import_csv(renamed.encode()).updated == 1 and records.person(LI[1]).name == "李四光"
    with pytest.raises(CsvImportError) as caught:
        records.import_csv(CSV.encode() + b"person,123,x,,,active\n")
    assert caught.value.errors[0].startswith("line 10: ")
    assert records.person(LI[1]).name == "李四光"  # nothing written


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
