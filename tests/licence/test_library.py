"""The licence library on SQLite and on PostgreSQL: issuance into one transaction, per-field
refusals that write nothing, the lifecycle with its audit trail, the public status, batch import."""

from __future__ import annotations

import io
import json
from datetime import date, timedelta

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from sqlalchemy import func, select

from keys.errors import InvalidSignature
from keys.sm2 import SM2PublicKey
from licence.batch import import_rows
from licence.data import DataInvalid
from licence.identifier import parse_identifier
from licence.library import IdempotencyConflict, IssueRequest, LicenceError
from licence.models import events_table, licences_table
from licence.payload import data_digest, read_payload
from seal.models import usage_table
from tests.licence.support import (
    FOOD,
    PERSON_ID,
    QUALIFICATION,
    QUALIFICATION_DATA,
    food,
    make_library,
    scan_code,
)

pytestmark = pytest.mark.storage


@pytest.fixture
def library(storage, tmp_path):
    return make_library(storage, tmp_path)


def _rows(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar()


def test_issued_licence_is_sealed_carries_metadata_and_a_signed_code(library, storage, tmp_path):
    issued = library.issue(food(), actor="test")
    ident = parse_identifier(issued.licence_id)
    assert ident.type_code == FOOD and ident.version == 1
    assert issued.status == "valid"
    assert issued.valid_to == date(issued.valid_from.year + 5, issued.valid_from.month, issued.valid_from.day) \
        - timedelta(days=1)
    assert issued.summary()["holder"]["id"] == "911201********L296"
    _, pdf = library.file(issued.licence_id)
    reader = PdfFileReader(io.BytesIO(pdf))
    assert [s.field_name for s in reader.embedded_signatures] == ["YitongSeal1"]
    info = reader.trailer_view["/Info"]
    assert str(info["/LicenceIdentifier"]) == issued.licence_id
    assert str(info["/HolderCodeType"]) == "001"
    assert b"urn:yitong:ns:licence:gbt36903:1" in reader.root["/Metadata"].get_object().data
    # The 2D code's payload: signed by the authority's seal key, naming this licence and its data digest.
    kind = library.catalogue.get(FOOD)
    material = library.seals.material(kind.esid)
    url = scan_code(pdf, tmp_path)
    assert url.startswith("http://127.0.0.1:9/licences/v?c=")
    claims, body, signature = read_payload(url.split("?c=")[1])
    public = SM2PublicKey.from_der(material.certificate.public_key.dump())
    public.verify(signature, body)  # raises when the signature does not verify
    assert claims["h"] == issued.holder_name  # an organisation's name is public; a person's is masked
    assert claims["i"] == issued.licence_id and claims["d"] == data_digest({
        "licence_id": issued.licence_id, "type": FOOD, "number": issued.number, "holder_id": issued.holder_id,
        "holder_name": issued.holder_name, "data": issued.data, "valid_from": issued.valid_from.isoformat(),
        "valid_to": issued.valid_to.isoformat()})
    with pytest.raises(InvalidSignature):
        public.verify(signature, body.replace(b'"i"', b'"j"'))
    # One transaction: the licence, its audit event and the seal's usage row.
    assert _rows(storage.engine, licences_table) == 1
    assert library.events(issued.licence_id)[0]["event"] == "issued"
    assert _rows(storage.engine, usage_table) == 1


def test_bad_data_is_refused_per_field_and_nothing_is_written(library, storage):
    with pytest.raises(DataInvalid) as refused:
        library.issue(food("<b>店</b>", holder_id="91120116MA05K3L297",
                           data={"business_type": "赌场", "premises": "x" * 121, "extra": "1"},
                           valid_to="2020-13-01"), actor="test")
    errors = refused.value.errors
    assert set(errors) == {"holder_id", "holder_name", "data.business_type", "data.premises", "data.extra",
                           "valid_to"}
    person = IssueRequest(QUALIFICATION, "110105194912310021", "王小明", {**QUALIFICATION_DATA, "sex": 1})
    with pytest.raises(DataInvalid) as refused:
        library.issue(person, actor="test")
    assert set(refused.value.errors) == {"holder_id", "data.sex"}
    assert _rows(storage.engine, licences_table) == 0 and _rows(storage.engine, usage_table) == 0


def test_lifecycle_revoke_supersede_expire_and_public_status(library, storage):
    first = library.issue(food(), actor="test")
    second = library.supersede(first.licence_id, food(data={"premises": "天津市河西区友谊路2号"}), actor="op",
                               reason="address changed")
    assert parse_identifier(second.licence_id).version == 2 and second.supersedes == first.licence_id
    assert library.get(first.licence_id).status == "superseded"
    assert library.get(first.licence_id).superseded_by == second.licence_id
    with pytest.raises(LicenceError, match="superseded"):
        library.revoke(first.licence_id, actor="op", reason="again")
    with pytest.raises(LicenceError, match="reason"):
        library.revoke(second.licence_id, actor="op", reason=" ")
    revoked = library.revoke(second.licence_id, actor="op", reason="吊销：违法经营")
    assert revoked.status == "revoked"
    assert [e["event"] for e in library.events(second.licence_id)] == ["issued", "revoked"]
    assert library.events(second.licence_id)[1]["actor"] == "op"
    status = library.status(second.licence_id)
    assert status == {"licence_id": second.licence_id, "status": "revoked"}
    old = library.issue(food(valid_from="2015-01-01", valid_to="2020-12-31"), actor="import")
    assert library.status(old.licence_id)["status"] == "expired"
    assert [e["event"] for e in library.events(old.licence_id)] == ["issued", "expired"]
    with pytest.raises(LicenceError) as bad:
        library.status(second.licence_id[:-1] + ("0" if second.licence_id[-1] != "0" else "1"))
    assert bad.value.kind == "bad-identifier"


def test_idempotency_key_replays_and_conflicts(library, storage):
    first = library.issue(food(), actor="c", client_id="biz", idempotency=("k1", "a" * 64))
    again = library.issue(food(), actor="c", client_id="biz", idempotency=("k1", "a" * 64))
    assert again.licence_id == first.licence_id
    with pytest.raises(IdempotencyConflict):
        library.issue(food(), actor="c", client_id="biz", idempotency=("k1", "b" * 64))
    assert _rows(storage.engine, licences_table) == 1


def test_batch_import_reports_bad_rows_and_never_duplicates(library, storage):
    rows = [{"row_key": f"paper-{n}", "holder_id": PERSON_ID, "holder_name": "王小明", **QUALIFICATION_DATA}
            for n in range(6)]
    rows[2]["holder_id"] = "110105194912310021"  # wrong check digit
    rows[4].pop("occupation")
    lines = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\nnot json\n"
    report = import_rows(library, QUALIFICATION, lines.encode(), name="rows.jsonl", actor="test")
    assert (report.total, report.issued, report.failed) == (7, 4, 3)
    assert {e["line"] for e in report.errors} == {3, 5, 7}
    assert report.errors[0]["errors"] == {"holder_id": report.errors[0]["errors"]["holder_id"]}
    again = import_rows(library, QUALIFICATION, lines.encode(), name="rows.jsonl", actor="test")
    assert (again.issued, again.existing, again.failed) == (0, 4, 3)
    assert _rows(storage.engine, licences_table) == 4
    with storage.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(events_table)
                            .where(events_table.c.event == "issued")).scalar() == 4


def test_ofd_licence_is_sealed_per_gbt38540_and_carries_the_metadata(library, storage):
    from ofd.package import OfdPackage
    from verify.ofd import verify_ofd

    issued = library.issue(food(format="ofd"), actor="test")
    assert issued.format == "ofd"
    _, ofd = library.file(issued.licence_id)
    pki = library.seals.pki
    crls = [pki.crl(ca) for ca in pki.ca_names()]
    issuing = [pki.ca_certificate(ca) for ca in pki.ca_names() if ca.endswith("-issuing")]
    report = verify_ofd(ofd, pki.trust_bundle(), crls=crls, certs=issuing).as_dict()
    assert report["indication"] == "TOTAL_PASSED", report
    package = OfdPackage.open(ofd)
    ofd_xml = package.read("OFD.xml").decode()
    assert f'<ofd:CustomData Name="LicenceIdentifier">{issued.licence_id}</ofd:CustomData>' in ofd_xml
    assert '<ofd:CustomData Name="HolderCodeType">001</ofd:CustomData>' in ofd_xml
    assert _rows(storage.engine, usage_table) == 1


def test_concurrent_retries_with_one_idempotency_key_issue_one_licence(library, storage):
    from concurrent.futures import ThreadPoolExecutor

    def attempt(_n):
        return library.issue(food(), actor="c", client_id="biz", idempotency=("same-key", "c" * 64)).licence_id

    with ThreadPoolExecutor(3) as pool:
        answers = set(pool.map(attempt, range(3)))
    assert len(answers) == 1
    assert _rows(storage.engine, licences_table) == 1 and _rows(storage.engine, usage_table) == 1


def test_batch_of_sixty_rows_with_six_bad_ones_issues_fifty_four_and_reruns_without_duplicates(library, storage):
    """The issue's 1,000-row import (990 licences, 10 row errors) in small: every bad row reported
    with its CSV line and what is wrong, the good ones all issued, a re-run issuing nothing."""
    header = "row_key,holder_id,holder_name,sex,occupation,level,assessed_on"
    lines = [f"paper-{n:03d},{PERSON_ID},王小明{n},男,焊工,四级/中级工,2023-05-{n % 28 + 1:02d}" for n in range(60)]
    bad = {3: ("paper-003,110105194912310021,王小明,男,焊工,四级/中级工,2023-01-01", "holder_id",
               "not a valid resident ID number"),
           11: ("paper-011,11010519491231002X,王小明,男,,四级/中级工,2023-01-01", "data.occupation", "required"),
           20: ("paper-020,11010519491231002X,王小明,男,焊工,特级,2023-01-01", "data.level", "must be one of"),
           34: ("paper-034,11010519491231002X,王小明,男,焊工,四级/中级工,2023-13-01", "data.assessed_on",
                "must be a date"),
           47: ("paper-047,11010519491231002X,<b>王小明</b>,男,焊工,四级/中级工,2023-01-01", "holder_name",
                "must not contain < or >"),
           59: ("paper-059,11010519491231002X,王小明,男,焊工,四级/中级工,2023-01-01,surplus", "row",
                "more values than header columns")}
    for index, (line, _field, _words) in bad.items():
        lines[index] = line
    data = ("\n".join([header, *lines]) + "\n").encode()
    ticks = []
    report = import_rows(library, QUALIFICATION, data, name="rows.csv", actor="test", fmt="ofd", progress=ticks.append)
    assert (report.total, report.issued, report.existing, report.failed) == (60, 54, 0, 6)
    assert len(ticks) == 60  # the progress bar moves once per row, good or bad
    # CSV line = row index + 2 (the header is line 1); each error names its field and what is wrong
    assert [e["line"] for e in report.errors] == [index + 2 for index in sorted(bad)]
    for error, index in zip(report.errors, sorted(bad), strict=True):
        _line, field, words = bad[index]
        assert list(error["errors"]) == [field] and words in error["errors"][field], error
    again = import_rows(library, QUALIFICATION, data, name="rows.csv", actor="test", fmt="ofd")
    assert (again.total, again.issued, again.existing, again.failed) == (60, 0, 54, 6)
    assert [e["line"] for e in again.errors] == [e["line"] for e in report.errors]
    assert _rows(storage.engine, licences_table) == 54
    with storage.engine.connect() as conn:
        keys = conn.execute(select(licences_table.c.row_key)).scalars().all()
        assert conn.execute(select(func.count()).select_from(events_table)
                            .where(events_table.c.event == "issued")).scalar() == 54
    assert sorted(keys) == [f"paper-{n:03d}" for n in range(60) if n not in bad]
