"""The tamper-evident audit trail (issue 17 item 4) on SQLite and PostgreSQL: audit events,
seal-usage records and seal lifecycle events chained by HMAC-SM3, TSA-stamped checkpoints, and `verify` naming the first
broken link for every edit a database administrator can make with SQL."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import text

from idp.audit import Audit
from idp.models import audit_table
from keys.auditchain import ChainPolicy, export_lines, open_chain, verify_export
from keys.auditchain.archive import archive_and_delete
from keys.auditchain.models import checkpoints_table
from keys.clock import utcnow
from keys.pki.tsa import verify_token
from seal.models import events_table, usage_table
from seal.registry import SealRegistry
from tests.helpers import run_yitong
from tests.keys.pki_support import make_pki

pytestmark = pytest.mark.storage


@pytest.fixture
def trail(storage, tmp_path):
    pki = make_pki(storage, tmp_path)
    chain = open_chain(pki.keystore, pki, policy=ChainPolicy(every_events=4, every=timedelta(hours=1)))
    registry = SealRegistry(storage.engine, pki.keystore, pki, audit_chain=chain)
    return Audit(storage.engine, chain), registry, chain


def _events(audit: Audit, count: int) -> None:
    for n in range(count):
        audit.record("login.failure", sub=None, ip=f"10.0.0.{n}", user_agent="pytest", login="z*n", reason="password")


def _uses(registry: SealRegistry, count: int) -> None:
    for n in range(count):
        registry.log_use("12010400000001", caller="portal", subject=None, org_uscc=None, sm3_before=f"{n:064x}",
                         sm3_after=f"{n + 1:064x}", request_id=f"req-{n}", client_ip="10.1.1.1")


CHAINED = ("idp_audit", "seal_usage", "seal_events", "keys_audit_checkpoints")


def _sql(storage, statement: str, *, tables=CHAINED, **params) -> None:
    """What a database administrator can do: drop the append-only triggers of ``tables``, then edit."""
    with storage.engine.begin() as conn:
        for table in tables:
            if storage.kind == "postgres":
                conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}"))
            else:
                conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_update"))
                conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_delete"))
        conn.execute(text(statement), params)


def test_chained_rows_cannot_be_changed_through_the_application_role(trail, storage):
    audit, registry, _ = trail
    _events(audit, 2)
    _uses(registry, 1)
    for statement in ("UPDATE idp_audit SET ip = 'x'", "DELETE FROM idp_audit", "DELETE FROM seal_usage",
                      "UPDATE keys_audit_checkpoints SET mac = 'x'"):
        with pytest.raises(Exception, match="append-only"), storage.engine.begin() as conn:
            conn.execute(text(statement))


def test_a_whole_trail_verifies_with_time_stamped_checkpoints(trail, storage):
    audit, registry, chain = trail
    _events(audit, 10)
    _uses(registry, 5)
    report = chain.verify(audit_table)
    assert report.ok and report.records == 10 and (report.first_seq, report.last_seq) == (1, 10)
    assert report.checkpoints == 3  # at positions 1 (the first), 5 and 9: every 4 events
    usage = chain.verify(usage_table)
    assert usage.ok and usage.records == 5 and usage.checkpoints == 2
    # The checkpoint's time stamp is an RFC 3161 token over SM3 of what it states, by the home's TSA.
    with storage.engine.connect() as conn:
        point = conn.execute(checkpoints_table.select().where(checkpoints_table.c.chain == "idp_audit")
                             .order_by(checkpoints_table.c.seq.desc())).first()
    tsa = registry.pki.service_certificate("sm2-issuing", "tsa")[1]
    from keys.auditchain.chain import statement

    info = verify_token(point.tst, tsa_certificate=tsa, data=statement("idp_audit", point.seq, point.mac, point.at))
    assert info.hash_algorithm == "sm3" and abs((info.gen_time - point.at).total_seconds()) < 5


def test_an_updated_event_is_named(trail, storage):
    audit, _, chain = trail
    _events(audit, 6)
    _sql(storage, "UPDATE idp_audit SET ip = '192.0.2.1' WHERE chain_seq = 3")
    broken = chain.verify(audit_table).broken
    record_id = _id_at(storage, "idp_audit", 3)
    assert broken.kind == "edited" and broken.record_id == record_id and broken.seq == 3
    assert f"record {record_id} (position 3)" in broken.message


def test_an_updated_usage_record_is_named(trail, storage):
    _, registry, chain = trail
    _uses(registry, 4)
    _sql(storage, "UPDATE seal_usage SET sm3_after = :digest WHERE chain_seq = 2", digest="f" * 64)
    broken = chain.verify(usage_table).broken
    assert broken.kind == "edited" and broken.record_id == _id_at(storage, "seal_usage", 2)


def _lifecycle(registry: SealRegistry, seals: int) -> list[str]:
    """Two events per seal (applied by a person, approved by an operator), then one refusal."""
    esids = []
    for n in range(seals):
        record = registry.apply(holder_kind="person", holder_id=f"sub-{n:04d}", holder_name="张三", seal_type=5,
                                algorithm="sm2", actor=f"idp:sub-{n:04d}")
        registry.approve(record.esid, actor="operator:sec-1", reason="材料齐全")
        esids.append(record.esid)
    registry.record_event(esids[0], "admin.refused", actor="operator:aud-1", status="approved",
                          detail={"role": "audit"})
    return esids


def test_seal_lifecycle_events_are_chained_and_append_only(trail, storage):
    _, registry, chain = trail
    _lifecycle(registry, 2)
    report = chain.verify(events_table)
    assert report.ok and report.records == 5 and (report.first_seq, report.last_seq) == (1, 5)
    assert report.checkpoints == 2  # positions 1 and 5
    with storage.engine.connect() as conn:
        actors = conn.execute(text("SELECT actor FROM seal_events ORDER BY chain_seq")).scalars().all()
    assert actors == ["idp:sub-0000", "operator:sec-1", "idp:sub-0001", "operator:sec-1", "operator:aud-1"]
    for statement in ("UPDATE seal_events SET actor = 'operator:x'", "DELETE FROM seal_events"):
        with pytest.raises(Exception, match="append-only"), storage.engine.begin() as conn:
            conn.execute(text(statement))


def test_an_edited_seal_event_is_named(trail, storage):
    _, registry, chain = trail
    _lifecycle(registry, 2)
    # Who approved the first seal is rewritten to someone else.
    _sql(storage, "UPDATE seal_events SET actor = 'operator:other' WHERE chain_seq = 2")
    broken = chain.verify(events_table).broken
    record_id = _id_at(storage, "seal_events", 2)
    assert broken.kind == "edited" and broken.record_id == record_id and broken.seq == 2
    assert f"record {record_id} (position 2)" in broken.message


def test_a_deleted_seal_event_is_named(trail, storage):
    _, registry, chain = trail
    _lifecycle(registry, 2)
    before, after = _id_at(storage, "seal_events", 2), _id_at(storage, "seal_events", 4)
    _sql(storage, "DELETE FROM seal_events WHERE chain_seq = 3")
    broken = chain.verify(events_table).broken
    assert broken.kind == "deleted" and broken.seq == 3
    assert broken.message == f"position 3 missing after record {before}, before record {after}: deleted"
    _sql(storage, "DELETE FROM seal_events WHERE chain_seq >= 4")
    assert chain.verify(events_table).broken.kind == "deleted"


def test_a_seal_event_inserted_with_sql_is_named(trail, storage):
    _, registry, chain = trail
    [esid] = _lifecycle(registry, 1)
    _sql(storage, "INSERT INTO seal_events (esid, at, event, from_status, to_status, actor) "
                  "VALUES (:esid, :at, 'revoked', 'approved', 'revoked', 'operator:ghost')",
         esid=esid, at=utcnow().replace(tzinfo=None))
    forged = _scalar(storage, "SELECT id FROM seal_events WHERE actor = 'operator:ghost'")
    broken = chain.verify(events_table).broken
    assert broken.kind == "inserted" and broken.record_id == forged


def test_reordered_seal_events_are_named(trail, storage):
    _, registry, chain = trail
    _lifecycle(registry, 2)
    first, second = _id_at(storage, "seal_events", 2), _id_at(storage, "seal_events", 3)
    _sql(storage, "UPDATE seal_events SET id = -1 WHERE id = :a", a=first)
    _sql(storage, "UPDATE seal_events SET id = :a WHERE id = :b", a=first, b=second)
    _sql(storage, "UPDATE seal_events SET id = :b WHERE id = -1", b=second)
    broken = chain.verify(events_table).broken
    assert broken.kind == "reordered" and broken.seq == 2 and broken.record_id == second


def test_a_deleted_event_is_named_by_its_position_and_neighbours(trail, storage):
    audit, _, chain = trail
    _events(audit, 6)
    before, after = _id_at(storage, "idp_audit", 3), _id_at(storage, "idp_audit", 5)
    _sql(storage, "DELETE FROM idp_audit WHERE chain_seq = 4")
    broken = chain.verify(audit_table).broken
    assert broken.kind == "deleted" and broken.seq == 4
    assert broken.message == f"position 4 missing after record {before}, before record {after}: deleted"


def test_deleting_the_newest_events_is_seen(trail, storage):
    audit, _, chain = trail
    _events(audit, 6)
    _sql(storage, "DELETE FROM idp_audit WHERE chain_seq >= 5")
    broken = chain.verify(audit_table).broken
    assert broken.kind == "deleted" and broken.seq == 5 and "newest records were deleted" in broken.message


def test_a_row_inserted_with_sql_is_named(trail, storage):
    audit, _, chain = trail
    _events(audit, 3)
    _sql(storage, "INSERT INTO idp_audit (at, event, sub, ip) VALUES (:at, 'login.success', 'forged', '10.9.9.9')",
         at=utcnow().replace(tzinfo=None))
    broken = chain.verify(audit_table).broken
    forged = _scalar(storage, "SELECT id FROM idp_audit WHERE sub = 'forged'")
    assert broken.kind == "inserted" and broken.record_id == forged
    # A forged link does not help: the key is not in the database.
    _sql(storage, "UPDATE idp_audit SET chain_seq = 4, chain_mac = :mac WHERE sub = 'forged'", mac="ab" * 32)
    broken = chain.verify(audit_table).broken
    assert broken.kind == "edited" and broken.record_id == forged


def test_reordered_events_are_named(trail, storage):
    audit, _, chain = trail
    _events(audit, 5)
    first, second = _id_at(storage, "idp_audit", 2), _id_at(storage, "idp_audit", 3)
    # Swap the two rows' places (their ids), keeping everything else.
    _sql(storage, "UPDATE idp_audit SET id = -1 WHERE id = :a", a=first)
    _sql(storage, "UPDATE idp_audit SET id = :a WHERE id = :b", a=first, b=second)
    _sql(storage, "UPDATE idp_audit SET id = :b WHERE id = -1", b=second)
    broken = chain.verify(audit_table).broken
    assert broken.kind == "reordered" and broken.seq == 2 and broken.record_id == second


def test_swapped_times_are_an_edit(trail, storage):
    audit, _, chain = trail
    _events(audit, 4)
    _sql(storage, "UPDATE idp_audit SET at = (SELECT at FROM idp_audit WHERE chain_seq = 1) WHERE chain_seq = 2")
    assert chain.verify(audit_table).broken.kind == "edited"


def test_a_checkpoint_edited_in_the_database_is_refused(trail, storage):
    audit, _, chain = trail
    _events(audit, 5)
    _sql(storage, "UPDATE keys_audit_checkpoints SET at = :at WHERE chain = 'idp_audit' AND seq = 5",
         at=(utcnow() - timedelta(days=3)).replace(tzinfo=None))
    broken = chain.verify(audit_table).broken
    assert broken.kind == "checkpoint" and broken.seq == 5


def test_since_checks_from_that_time_on(trail, storage):
    audit, _, chain = trail
    _events(audit, 3)
    middle = utcnow()
    _events(audit, 3)
    report = chain.verify(audit_table, since=middle)
    assert report.ok and report.records == 3 and report.first_seq == 4
    _sql(storage, "UPDATE idp_audit SET ip = 'x' WHERE chain_seq = 5")
    assert chain.verify(audit_table, since=middle).broken.seq == 5


def test_concurrent_appends_never_fork_the_chain(trail, storage):
    audit, registry, chain = trail
    errors = []

    def worker(n):
        try:
            for i in range(15):
                if i % 3:
                    audit.record("token.issued", client_id=f"client-{n}", ip="10.0.0.1")
                else:
                    registry.log_use("12010400000001", caller=f"client-{n}", subject=None, org_uscc=None,
                                     sm3_before="0" * 64, sm3_after="1" * 64, request_id=None, client_ip=None)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    events, uses = chain.verify(audit_table), chain.verify(usage_table)
    assert events.ok and events.records == 60 and events.last_seq == 60
    assert uses.ok and uses.records == 30 and uses.last_seq == 30


def test_an_export_verifies_offline_and_shows_an_edit(trail, storage, tmp_path):
    audit, registry, chain = trail
    _events(audit, 9)
    _uses(registry, 2)
    lines = [*export_lines(chain, audit_table, None, None), *export_lines(chain, usage_table, None, None)]
    reports = verify_export(chain, lines)
    assert [r.ok for r in reports] == [True, True] and reports[0].records == 9 and reports[0].checkpoints == 3
    edited = [json.loads(line) for line in lines]
    edited[4]["content"]["ip"] = "203.0.113.7"
    broken = verify_export(chain, [json.dumps(line) for line in edited])[0].broken
    assert broken.kind == "edited" and broken.record_id == edited[4]["id"]
    dropped = lines[:3] + lines[4:]
    assert verify_export(chain, dropped)[0].broken.kind == "deleted"


def test_archiving_writes_a_checked_export_before_deleting(trail, storage, tmp_path):
    audit, _, chain = trail
    old = utcnow() - timedelta(days=200)
    with storage.engine.begin() as conn:
        for n in range(5):
            chain.append(conn, audit_table, {"at": old + timedelta(minutes=n), "event": "login.success",
                                             "sub": f"s{n}", "client_id": None, "ip": None, "user_agent": None,
                                             "detail": None})
    _events(audit, 3)
    with pytest.raises(Exception, match="append-only"), storage.engine.begin() as conn:
        conn.execute(text("DELETE FROM idp_audit WHERE chain_seq = 1"))  # not before it is archived
    path, count = archive_and_delete(chain, audit_table, utcnow() - timedelta(days=180), tmp_path / "archive")
    assert count == 5 and path.exists()
    archived = verify_export(chain, path.read_text().splitlines())[0]
    assert archived.ok and archived.records == 5
    kept = chain.verify(audit_table)
    assert kept.ok and kept.records == 3 and kept.first_seq == 6
    _events(audit, 1)
    assert chain.verify(audit_table).ok


def _id_at(storage, table: str, seq: int) -> int:
    return _scalar(storage, f"SELECT id FROM {table} WHERE chain_seq = {int(seq)}")  # noqa: S608


def _scalar(storage, statement: str):
    with storage.engine.connect() as conn:
        return conn.execute(text(statement)).scalar()


def test_the_cli_verifies_and_names_an_updated_row(storage, upgraded_home):
    env = upgraded_home.env
    made = run_yitong(["client", "create", "--name", "Portal", "--grant", "client_credentials", "--scope",
                       "seal:sign", "--json"], env)
    assert made.returncode == 0, made.stderr
    assert run_yitong(["client", "delete", json.loads(made.stdout)["client_id"]], env).returncode == 0
    whole = run_yitong(["audit", "verify"], env)
    assert whole.returncode == 0, whole.stderr
    assert b"idp_audit: ok: 2 records linked" in whole.stdout
    _sql(storage, "UPDATE idp_audit SET event = 'client.updated' WHERE chain_seq = 2")
    broken = run_yitong(["audit", "verify", "--json"], env)
    assert broken.returncode == 1
    report = json.loads(broken.stdout)
    record_id = _id_at(storage, "idp_audit", 2)
    assert report["ok"] is False and report["chains"][0]["broken"]["record_id"] == record_id
    exported = run_yitong(["audit", "export", "--from", "2020-01-01", "--to", "2100-01-01"], env)
    assert exported.returncode == 0
    assert b"idp_audit" in exported.stdout
    bad = run_yitong(["audit", "export", "--from", "yesterday", "--to", "2100-01-01"], env)
    assert bad.returncode == 2 and b"not a date" in bad.stderr


def test_the_chain_survives_a_master_key_rewrap(trail, storage):
    from keys.keystore import Keystore, MasterKey

    audit, registry, _ = trail
    _events(audit, 3)
    new_master = MasterKey.generate()
    registry.keystore.rewrap(new_master)
    reopened = Keystore.open(storage.engine, new_master)
    report = open_chain(reopened, registry.pki).verify(audit_table)
    assert report.ok and report.records == 3


def test_the_cli_archives_old_records_into_a_file_it_can_verify(storage, upgraded_home, tmp_path):
    from yitong.home import Home
    from yitong.settings import Settings

    env = upgraded_home.env
    home = Home(Settings.from_env(env))
    chain = home.audit_chain()
    old = utcnow() - timedelta(days=400)
    with home.engine.begin() as conn:
        for n in range(4):
            chain.append(conn, audit_table, {"at": old + timedelta(hours=n), "event": "logout", "sub": f"s{n}",
                                             "client_id": None, "ip": None, "user_agent": None, "detail": None})
    home.engine.dispose()
    assert run_yitong(["client", "create", "--name", "P", "--grant", "client_credentials", "--scope", "seal:sign"],
                      env).returncode == 0
    too_recent = run_yitong(["audit", "archive", "--dir", str(tmp_path / "a"), "--before", "2100-01-01"], env)
    assert too_recent.returncode == 2 and b"kept 180 days" in too_recent.stderr
    done = run_yitong(["audit", "archive", "--dir", str(tmp_path / "a")], env)
    assert done.returncode == 0, done.stderr
    assert b"idp_audit: archived 4 records" in done.stdout
    [archive] = list((tmp_path / "a").glob("idp_audit-*.jsonl"))
    checked = run_yitong(["audit", "verify", "--file", str(archive), "--json"], env)
    assert checked.returncode == 0 and json.loads(checked.stdout)["chains"][0]["records"] == 4
    rest = json.loads(run_yitong(["audit", "verify", "--json"], env).stdout)["chains"][0]
    assert rest["ok"] and rest["records"] == 1 and rest["first_seq"] == 5
