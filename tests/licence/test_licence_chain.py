"""A licence's history (licence_events) and its record of uses (licence_uses) in the tamper-evident
audit trail (issue 17), on SQLite and PostgreSQL: chained by HMAC-SM3 with the seals' chain key
and TSA checkpoints, and `verify` naming the first broken link for every edit a database
administrator can make with SQL."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import text

from keys.auditchain import ChainPolicy, export_lines, open_chain, verify_export
from keys.clock import utcnow
from licence.library import LicenceLibrary
from licence.models import events_table, uses_table
from licence.sharing import ShareGrants, Sharing, by_grant
from licence.showing import Showings
from seal.models import usage_table
from seal.registry import SealRegistry
from tests.helpers import run_yitong
from tests.licence.support import FOOD, REGION, SHOP_USCC, food, make_library
from tests.yitong.test_audit_chain import _sql as dba_sql
from yitong import db

pytestmark = pytest.mark.storage
PURPOSE = "食品经营监督检查"
TABLES = {"licence_events": events_table, "licence_uses": uses_table}


@pytest.fixture
def library(storage, tmp_path) -> LicenceLibrary:
    """The sample catalogue's library, its records chained with a checkpoint every 4 records."""
    base = make_library(storage, tmp_path)
    chain = open_chain(base.seals.keystore, base.seals.pki,
                       policy=ChainPolicy(every_events=4, every=timedelta(hours=1)))
    seals = SealRegistry(storage.engine, base.seals.keystore, base.seals.pki, region=REGION, audit_chain=chain)
    return LicenceLibrary(storage.engine, seals, issuer=base.issuer)


def _history(library: LicenceLibrary) -> list[str]:
    """Two issuances, a sharing grant, a list + data + status through the sharing service, a showing
    and its view, a revocation: events (after the catalogue's 3) issued, issued, share-granted,
    revoked; uses shared x4, shown, viewed."""
    first = library.issue(food(), actor="test:issuer")
    second = library.issue(food("天津市第二餐饮有限公司"), actor="test:issuer")
    grants = ShareGrants(library.engine, library.audit_chain)
    grants.add("inspector", [FOOD], PURPOSE, sensitive=False, basis="《食品安全法》", actor="test:operator",
               catalogue=library.catalogue)
    sharing = Sharing(library)
    access = by_grant(grants, "inspector", SHOP_USCC, PURPOSE)
    assert len(sharing.list(access)) == 2
    sharing.data(access, first.licence_id)
    sharing.status(access, second.licence_id)
    showings = Showings(library.engine, library.seals.keystore.secret("licence-showing", 32),
                        audit_chain=library.audit_chain)
    shown = showings.show(first.licence_id, library.catalogue.get(FOOD), holder_sub="holder-1", items=["premises"])
    showings.open(shown.token, viewer="pytest")
    library.revoke(second.licence_id, actor="operator:sec-1", reason="吊销")
    return [first.licence_id, second.licence_id]


def _sql(storage, statement: str, **params) -> None:
    """What a database administrator can do: drop the licence tables' append-only triggers, then edit."""
    dba_sql(storage, statement, tables=TABLES, **params)


def _scalar(storage, statement: str, **params):
    with storage.engine.connect() as conn:
        return conn.execute(text(statement), params).scalar()


def _id_at(storage, table: str, seq: int) -> int:
    return _scalar(storage, f"SELECT id FROM {table} WHERE chain_seq = :seq", seq=seq)  # noqa: S608


def test_a_clean_issuance_sharing_and_revocation_verifies(library, storage):
    _history(library)
    chain = library.audit_chain
    events, uses = chain.verify(events_table), chain.verify(uses_table)
    assert events.ok and events.records == 7 and (events.first_seq, events.last_seq) == (1, 7), events.broken
    assert uses.ok and uses.records == 6 and (uses.first_seq, uses.last_seq) == (1, 6), uses.broken
    assert events.legacy == uses.legacy == 0
    # Every 4 records: the uses' first append (the list's two, position 2) and position 6; the events'
    # snapshot made one at position 1 (the catalogue's first type), this chain the next at position 5.
    assert (uses.checkpoints, events.checkpoints) == (2, 2)
    assert chain.verify(usage_table).ok  # the seal's usage records of the same issuances
    with storage.engine.connect() as conn:
        history = conn.execute(text("SELECT event FROM licence_events ORDER BY chain_seq")).scalars().all()
        used = conn.execute(text("SELECT event, operation FROM licence_uses ORDER BY chain_seq")).all()
    assert history == ["type-added"] * 3 + ["issued", "issued", "share-granted", "revoked"]
    assert [tuple(u) for u in used] == [("shared", "list"), ("shared", "list"), ("shared", "data"),
                                        ("shared", "status"), ("shown", None), ("viewed", None)]
    for statement in ("UPDATE licence_events SET actor = 'x'", "DELETE FROM licence_events",
                      "UPDATE licence_uses SET purpose = 'x'", "DELETE FROM licence_uses"):
        with pytest.raises(Exception, match="append-only"), storage.engine.begin() as conn:
            conn.execute(text(statement))


EDITS = {"licence_events": "UPDATE licence_events SET actor = 'operator:someone-else' WHERE chain_seq = 5",
         "licence_uses": "UPDATE licence_uses SET client_id = 'someone-else' WHERE chain_seq = 5"}


@pytest.mark.parametrize("table", TABLES)
def test_an_edited_record_is_named(library, storage, table):
    _history(library)
    _sql(storage, EDITS[table])
    broken = library.audit_chain.verify(TABLES[table]).broken
    record_id = _id_at(storage, table, 5)
    assert broken.kind == "edited" and broken.record_id == record_id and broken.seq == 5
    assert f"record {record_id} (position 5) does not match its link: edited" in broken.message


@pytest.mark.parametrize("table", TABLES)
def test_a_deleted_record_is_named(library, storage, table):
    _history(library)
    before, after = _id_at(storage, table, 3), _id_at(storage, table, 5)
    _sql(storage, f"DELETE FROM {table} WHERE chain_seq = 4")  # noqa: S608 (a constant name)
    broken = library.audit_chain.verify(TABLES[table]).broken
    assert broken.kind == "deleted" and broken.seq == 4
    assert broken.message == f"position 4 missing after record {before}, before record {after}: deleted"


INSERTS = {"licence_events": "INSERT INTO licence_events (licence_id, type_code, at, event, from_status, to_status, "
                             "actor) VALUES (:licence, :type, :at, 'revoked', 'valid', 'revoked', 'operator:ghost')",
           "licence_uses": "INSERT INTO licence_uses (licence_id, at, event, client_id, purpose, operation) "
                           "VALUES (:licence, :at, 'shared', 'ghost', '查看', 'data')"}


@pytest.mark.parametrize("table", TABLES)
def test_a_record_inserted_with_sql_is_named(library, storage, table):
    first, _ = _history(library)
    _sql(storage, INSERTS[table], licence=first, type=FOOD, at=utcnow().replace(tzinfo=None))
    forged = _scalar(storage, f"SELECT max(id) FROM {table}")  # noqa: S608 (a constant name)
    broken = library.audit_chain.verify(TABLES[table]).broken
    assert broken.kind == "inserted" and broken.record_id == forged and broken.seq is None
    assert broken.message == f"record {forged} has no link: it was inserted outside the audit trail"


@pytest.mark.parametrize("table", TABLES)
def test_reordered_records_are_named(library, storage, table):
    _history(library)
    first, second = _id_at(storage, table, 2), _id_at(storage, table, 3)
    # Swap the two rows' places (their ids), keeping everything else.
    _sql(storage, f"UPDATE {table} SET id = -1 WHERE id = :a", a=first)  # noqa: S608 (constant names)
    _sql(storage, f"UPDATE {table} SET id = :a WHERE id = :b", a=first, b=second)  # noqa: S608
    _sql(storage, f"UPDATE {table} SET id = :b WHERE id = -1", b=second)  # noqa: S608
    broken = library.audit_chain.verify(TABLES[table]).broken
    assert broken.kind == "reordered" and broken.seq == 2 and broken.record_id == second


def test_an_export_of_the_licence_chains_verifies_offline_and_shows_an_edit(library):
    _history(library)
    chain = library.audit_chain
    lines = [*export_lines(chain, events_table, None, None), *export_lines(chain, uses_table, None, None)]
    reports = verify_export(chain, lines)
    assert [(r.chain, r.ok, r.records) for r in reports] == [("licence_events", True, 7), ("licence_uses", True, 6)]
    edited = [json.loads(line) for line in lines]
    use = next(n for n, line in enumerate(edited) if line.get("chain") == "licence_uses" and line["type"] == "record")
    edited[use]["content"]["purpose"] = "另一个目的"
    broken = verify_export(chain, [json.dumps(line) for line in edited])[1].broken
    assert broken.kind == "edited" and broken.record_id == edited[use]["id"]


def test_records_from_before_the_upgrade_are_counted_apart_and_the_chain_goes_on(library, storage):
    """An install at 0025 with a licence history and uses: after `db upgrade` they are "from before
    the chain" (as 0021 and 0023 treated the others') and `verify` passes; new records are linked."""
    config = db._alembic_config(storage.engine.url)
    with storage.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0025_lshare_sharing")
    _history_without_chain(storage)
    db.upgrade(storage.engine)
    db.check_at_head(storage.engine)
    chain = library.audit_chain
    for table, legacy in ((events_table, 5), (uses_table, 2)):  # the catalogue's 3 + the two below
        report = chain.verify(table)
        assert report.ok and report.legacy == legacy and report.records == 0, report.broken
    library.issue(food(), actor="test:issuer")
    events = chain.verify(events_table)
    assert events.ok and events.legacy == 5 and events.records == 1 and events.first_seq == 1, events.broken
    with pytest.raises(Exception, match="append-only"), storage.engine.begin() as conn:
        conn.execute(text("DELETE FROM licence_uses"))  # the old records are append-only too


def _history_without_chain(storage) -> None:
    """What an install before 0026 wrote (besides the catalogue's events): an issuance's event, a
    type's change and two uses, with plain SQL."""
    first = "licence-before-the-chain"
    at = utcnow().replace(tzinfo=None)
    with storage.engine.begin() as conn:
        conn.execute(text("INSERT INTO licence_events (licence_id, type_code, at, event, to_status, actor) "
                          "VALUES (:l, :t, :at, 'issued', 'valid', 'test:issuer')"), {"l": first, "t": FOOD, "at": at})
        conn.execute(text("INSERT INTO licence_events (type_code, at, event, actor) "
                          "VALUES (:t, :at, 'type-updated', 'cli/old')"), {"t": FOOD, "at": at})
        for event in ("shown", "viewed"):
            conn.execute(text("INSERT INTO licence_uses (licence_id, at, event) VALUES (:l, :at, :e)"),
                         {"l": first, "at": at, "e": event})


def test_the_cli_verifies_exports_and_archives_the_licence_chains(storage, upgraded_home, tmp_path):
    env = upgraded_home.env
    whole = run_yitong(["audit", "verify"], env)
    assert whole.returncode == 0, whole.stderr
    # `db upgrade` added the sample licence types: three catalogue events, chained.
    assert b"licence_events: ok: 3 records linked (positions 1..3)" in whole.stdout
    assert b"licence_uses: ok: 0 records linked" in whole.stdout
    exported = run_yitong(["audit", "export", "--from", "2020-01-01", "--to", "2100-01-01", "--chain",
                           "licence_events", "--out", str(tmp_path / "licences.jsonl")], env)
    assert exported.returncode == 0, exported.stderr
    checked = run_yitong(["audit", "verify", "--file", str(tmp_path / "licences.jsonl"), "--json"], env)
    assert checked.returncode == 0 and json.loads(checked.stdout)["chains"][0]["records"] == 3
    archived = run_yitong(["audit", "archive", "--dir", str(tmp_path / "archive")], env)
    assert archived.returncode == 0, archived.stderr
    assert b"licence_uses: nothing to archive" in archived.stdout and b"licence_events" not in archived.stdout
    _sql(storage, "UPDATE licence_events SET reason = 'forged' WHERE chain_seq = 2")
    broken = run_yitong(["audit", "verify", "--chain", "licence_events", "--json"], env)
    assert broken.returncode == 1
    [report] = json.loads(broken.stdout)["chains"]
    assert report["chain"] == "licence_events" and report["broken"]["kind"] == "edited"
    assert report["broken"]["record_id"] == _id_at(storage, "licence_events", 2)
