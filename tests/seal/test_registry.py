"""Seal lifecycle on SQLite and PostgreSQL: holds in CRL and OCSP, refusals, audit, expiry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from sqlalchemy import update

from keys import ses
from keys.storage import utcnow
from seal.image import FontMissing, ImageError, check_uploaded_png
from seal.models import seals_table
from seal.pdf import Placement, ocsp_request, seal_pdf
from seal.registry import SealError, SealNotFound, SealRegistry, SealStatus, SealUnusable, sealer_for
from tests.keys.pki_support import make_pki
from tests.seal.pdfs import make_pdf
from tests.seal.support import ORG_NAME, ORG_USCC

pytestmark = pytest.mark.storage


@pytest.fixture
def registry(storage, tmp_path):
    pki = make_pki(storage, tmp_path)
    return SealRegistry(storage.engine, pki.keystore, pki, region="120104")


def _crl_entry(registry, record):
    crl = asn1_crl.CertificateList.load(registry.pki.crl(record.cert_ca))
    for entry in crl["tbs_cert_list"]["revoked_certificates"] or []:
        if entry["user_certificate"].native == int(record.cert_serial, 16):
            return entry["crl_entry_extensions"] and {
                e["extn_id"].native: e["extn_value"].native for e in entry["crl_entry_extensions"]}.get("crl_reason")
    return None


def _ocsp_status(registry, esid):
    material = registry.material(esid) if registry.get(esid).status == "active" else None
    record = registry.get(esid)
    from asn1crypto import x509

    certificate = material.certificate if material else x509.Certificate.load(registry.blob(esid, "cert_der"))
    issuer = registry.pki.ca_certificate(record.cert_ca)
    response = asn1_ocsp.OCSPResponse.load(registry.pki.ocsp_responder().respond(ocsp_request(certificate, issuer)))
    single = response["response_bytes"]["response"].parsed["tbs_response_data"]["responses"][0]
    status = single["cert_status"]
    return status.name if status.name != "revoked" else ("revoked", status.chosen["revocation_reason"].native)


def test_lifecycle_holds_and_lifts_in_crl_and_ocsp(registry):
    record = registry.create(holder_kind="org", holder_id=ORG_USCC, holder_name=ORG_NAME, seal_type=6,
                             algorithm="sm2", actor="operator:alice", reason="新设")
    assert record.esid == "12010400000001" and record.status == "active"
    assert _crl_entry(registry, record) is None and _ocsp_status(registry, record.esid) == "good"
    doc = make_pdf(1)
    assert seal_pdf(sealer_for(registry, record.esid, tsa=False), doc, Placement(), level="B-B").pdf

    registry.suspend(record.esid, actor="operator:bob", reason="印章遗失")
    assert _crl_entry(registry, record) == "certificate_hold"
    assert _ocsp_status(registry, record.esid) == ("revoked", "certificate_hold")
    with pytest.raises(SealUnusable):
        sealer_for(registry, record.esid)

    registry.resume(record.esid, actor="operator:bob", reason="找回")
    assert _crl_entry(registry, record) is None and _ocsp_status(registry, record.esid) == "good"
    assert seal_pdf(sealer_for(registry, record.esid, tsa=False), doc, Placement(), level="B-B").pdf

    registry.revoke(record.esid, actor="operator:carol", reason="注销", crl_reason="cessationOfOperation")
    assert _crl_entry(registry, record) == "cessation_of_operation"
    with pytest.raises(SealUnusable):
        registry.resume(record.esid, actor="operator:carol", reason="x")
    events = registry.events(record.esid)
    assert [(e["event"], e["actor"]) for e in events] == [
        ("applied", "operator:alice"), ("approved", "operator:alice"), ("made", "operator:alice"),
        ("suspended", "operator:bob"), ("resumed", "operator:bob"), ("revoked", "operator:carol")]
    assert events[3]["reason"] == "印章遗失" and (events[3]["from"], events[3]["to"]) == ("active", "suspended")


def test_apply_approve_make_steps_and_the_made_seal(registry):
    applied = registry.apply(holder_kind="person", holder_id="sub-1234", holder_name="张三", seal_type=5,
                             algorithm="p256", actor="idp:sub-1234")
    assert applied.status == "applied" and applied.cert_serial is None
    with pytest.raises(SealUnusable):
        registry.make(applied.esid, actor="x")  # not approved yet
    registry.approve(applied.esid, actor="operator:alice")
    made = registry.make(applied.esid, actor="operator:alice")
    assert made.status == "active" and (made.width_mm, made.height_mm) == (20, 20)
    seal = ses.parse_seal(registry.blob(made.esid, "seseal_der"))
    assert seal.es_id == made.esid and seal.name == "张三" and seal.type == 5
    assert ses.verify_maker_signature(seal).passed
    assert seal.certs == (registry.blob(made.esid, "cert_der"),)
    assert registry.blob(made.esid, "image_png").startswith(b"\x89PNG")
    # Each seal has its own key: a second seal does not retire the first one's key.
    second = registry.create(holder_kind="person", holder_id="sub-1234", holder_name="张三", seal_type=99,
                             algorithm="p256", actor="operator:alice")
    assert second.esid == "12010400000002"
    from sqlalchemy import select

    with registry.engine.connect() as conn:
        kids = dict(conn.execute(select(seals_table.c.esid, seals_table.c.kid)).all())
    assert kids[made.esid] != kids[second.esid]
    assert registry.keystore.get(kids[made.esid]).state == "active"
    assert registry.material(made.esid).key.public_key().public_bytes_der() != \
        registry.material(second.esid).key.public_key().public_bytes_der()


def test_expired_seal_is_recorded_and_refused(registry, storage):
    record = registry.create(holder_kind="org", holder_id=ORG_USCC, holder_name=ORG_NAME, seal_type=4,
                             algorithm="sm2", actor="operator:alice")
    with storage.engine.begin() as conn:
        conn.execute(update(seals_table).where(seals_table.c.esid == record.esid)
                     .values(valid_to=utcnow() - timedelta(seconds=1)))
    assert registry.get(record.esid).status == "expired"
    assert registry.events(record.esid)[-1]["event"] == "expired"
    with pytest.raises(SealUnusable):
        registry.material(record.esid)


@pytest.mark.parametrize("kwargs", [
    {"holder_kind": "org", "holder_id": "123", "holder_name": "x", "seal_type": 6, "algorithm": "sm2"},
    {"holder_kind": "org", "holder_id": ORG_USCC, "holder_name": "a,b=c", "seal_type": 6, "algorithm": "sm2"},
    {"holder_kind": "org", "holder_id": ORG_USCC, "holder_name": "x", "seal_type": 42, "algorithm": "sm2"},
    {"holder_kind": "org", "holder_id": ORG_USCC, "holder_name": "x", "seal_type": 6, "algorithm": "rsa"},
    {"holder_kind": "person", "holder_id": "sub-1", "holder_name": "张三", "seal_type": 6, "algorithm": "sm2"},
    {"holder_kind": "robot", "holder_id": "sub-1", "holder_name": "x", "seal_type": 6, "algorithm": "sm2"},
])
def test_bad_applications_leave_nothing(registry, kwargs):
    with pytest.raises(SealError):
        registry.create(actor="operator:alice", **kwargs)
    assert registry.list() == []


def test_unknown_and_malformed_esids(registry):
    with pytest.raises(SealNotFound):
        registry.get("12010499999999")
    with pytest.raises(SealError):
        registry.get("../../etc")


def test_missing_font_is_a_clear_error_and_makes_nothing(registry, tmp_path):
    registry.font = str(tmp_path / "no-such-font.ttc")
    with pytest.raises(FontMissing, match="YITONG_SEAL_FONT"):
        registry.create(holder_kind="org", holder_id=ORG_USCC, holder_name=ORG_NAME, seal_type=6,
                        algorithm="sm2", actor="operator:alice")
    assert registry.list() == []


def test_uploaded_images_are_validated():
    import io

    from PIL import Image

    def png(mode, color):
        out = io.BytesIO()
        Image.new(mode, (200, 200), color).save(out, format="PNG")
        return out.getvalue()

    assert check_uploaded_png(png("RGBA", (0, 0, 0, 0)), 40, 40).png.startswith(b"\x89PNG")
    with pytest.raises(ImageError, match="transparent"):
        check_uploaded_png(png("RGB", (255, 255, 255)), 40, 40)
    with pytest.raises(ImageError, match="PNG"):
        check_uploaded_png(b"GIF89a....", 40, 40)
    with pytest.raises(ImageError):
        check_uploaded_png(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, 40, 40)


def test_a_42_mm_round_seal(registry):
    from PIL import Image

    record = registry.create(holder_kind="org", holder_id=ORG_USCC, holder_name=ORG_NAME, seal_type=6,
                             algorithm="sm2", actor="operator:alice", diameter_mm=42)
    assert (record.width_mm, record.height_mm) == (42, 42)
    seal = ses.parse_seal(registry.blob(record.esid, "seseal_der"))
    assert (seal.picture_width_mm, seal.picture_height_mm) == (42, 42)
    import io

    assert Image.open(io.BytesIO(seal.picture_data)).size == (42 * 12, 42 * 12)
    with pytest.raises(SealError):
        registry.apply(holder_kind="org", holder_id=ORG_USCC, holder_name=ORG_NAME, seal_type=6, algorithm="sm2",
                       actor="operator:alice", diameter_mm=45)


@pytest.mark.parametrize(("seal_type", "holder_kind", "size_mm"), [(4, "org", (40, 40)), (3, "org", (40, 30)),
                                                                   (5, "person", (20, 20))])
def test_standard_images_are_red_on_transparent(seal_type, holder_kind, size_mm):
    import io

    from PIL import Image

    from seal.image import PX_PER_MM, make_image

    made = make_image(seal_type, holder_kind, "天津市测试科技有限公司" if holder_kind == "org" else "张三",
                      code="12000000000001", tax_number="91120000MA05K1234X")
    assert (made.width_mm, made.height_mm) == size_mm
    image = Image.open(io.BytesIO(made.png)).convert("RGBA")
    assert image.size == (size_mm[0] * PX_PER_MM, size_mm[1] * PX_PER_MM)
    if holder_kind == "org":
        assert image.getpixel((0, 0))[3] == 0  # round and oval seals leave the corners clear
    pixels = list(image.get_flattened_data() if hasattr(image, "get_flattened_data") else image.getdata())
    opaque = [p for p in pixels if p[3] > 200]
    assert len(opaque) > len(pixels) * 0.05
    assert all(r > 150 and g < 90 and b < 90 for r, g, b, _ in opaque)
    assert made.svg.startswith("<svg") and "#E60012" in made.svg


def test_usage_log_and_audit_are_append_only_in_the_database(registry, storage):
    from sqlalchemy import delete
    from sqlalchemy.exc import DBAPIError

    from seal.models import events_table, usage_table

    record = registry.create(holder_kind="org", holder_id=ORG_USCC, holder_name=ORG_NAME, seal_type=6,
                             algorithm="sm2", actor="operator:alice")
    registry.log_use(record.esid, caller="client-1", subject=None, org_uscc=None, sm3_before="a" * 64,
                     sm3_after="b" * 64, request_id="r-1", client_ip="127.0.0.1")
    for table in (usage_table, events_table):
        for statement in (update(table).values(esid="x"), delete(table)):
            with pytest.raises(DBAPIError, match="append-only"), storage.engine.begin() as conn:
                conn.execute(statement)
    assert registry.usage_count(record.esid) == 1
    assert len(registry.events(record.esid)) == 3


def test_the_transition_table_refuses_with_the_status_and_the_action(registry):
    record = registry.apply(holder_kind="person", holder_id="sub-1234", holder_name="张三", seal_type=5,
                            algorithm="sm2", actor="idp:sub-1234")
    for action in ("suspend", "resume"):
        with pytest.raises(SealUnusable, match=f"^seal {record.esid} is applied; cannot {action} it$") as refused:
            getattr(registry, action)(record.esid, actor="operator:alice", reason="x")
        assert refused.value.status == 409
    registry.approve(record.esid, actor="operator:alice")
    with pytest.raises(SealUnusable, match=f"^seal {record.esid} is approved; cannot move it to approved$"):
        registry.approve(record.esid, actor="operator:alice")
    assert registry.revoke(record.esid, actor="operator:alice", reason="撤回").status == SealStatus.REVOKED
    with pytest.raises(SealUnusable, match="is revoked; cannot revoke it"):
        registry.revoke(record.esid, actor="operator:alice", reason="again")
    assert [(e["from"], e["to"]) for e in registry.events(record.esid)] == [
        (None, "applied"), ("applied", "approved"), ("approved", "revoked")]
