"""Licence-aware verification against the running service: `yitong verify` (offline and --online),
the /verify/ API and page report the licence on top of its seal (type, identifier with its check
character, holder masked, validity, status); a revoked licence is reported revoked although its seal
is intact; a tampered identifier fails its check character."""

from __future__ import annotations

import io
import json
import re
import uuid
import zipfile
from pathlib import Path

import jsonschema
import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from keys.licenceids import parse_identifier
from tests.helpers import run_yitong
from tests.licence.support import FOOD, FOOD_DATA, PERSON_ID, QUALIFICATION, QUALIFICATION_DATA, SHOP_USCC, counted
from tests.seal.service import yitong_service
from tests.seal.test_api import call, cli
from tests.yitong.test_observability import _L

pytestmark = pytest.mark.e2e
SCHEMA = json.loads((Path(__file__).parents[2] / "verify" / "schema" / "yitong-verify-report-1.json").read_text())


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("licence-verify")
    with yitong_service(tmp / "home") as (base, env):
        yield {"base": base, "env": env, "tmp": tmp}


def _issue(home, kind: str, fmt: str) -> tuple[dict, Path]:
    tmp = home["tmp"]
    data = tmp / f"data-{uuid.uuid4().hex}.json"
    if kind == "person":
        data.write_text(json.dumps(QUALIFICATION_DATA, ensure_ascii=False), encoding="utf-8")
        args = ["--type", QUALIFICATION, "--holder-id", PERSON_ID, "--holder-name", "王小明"]
    else:
        data.write_text(json.dumps(FOOD_DATA, ensure_ascii=False), encoding="utf-8")
        args = ["--type", FOOD, "--holder-id", SHOP_USCC, "--holder-name", "天津市示例餐饮有限公司"]
    out = tmp / f"licence-{uuid.uuid4().hex}.{fmt}"
    issued = cli(home["env"], "licence", "issue", *args, "--data", str(data), "--format", fmt, "--out", str(out),
                 "--json")
    return issued, out


def _verify_cli(home, path: Path, *options: str) -> tuple[int, dict]:
    done = run_yitong(["verify", "--json", *options, str(path)], home["env"])
    assert b"Traceback" not in done.stderr, done.stderr.decode()
    document = json.loads(done.stdout)
    jsonschema.validate(document, SCHEMA)
    [report] = document["files"]
    return done.returncode, report


def _verify_api(home, data: bytes) -> dict:
    status, _, body = call("POST", home["base"] + "/verify/api/v1/documents", body=data,
                           headers={"Content-Type": "application/octet-stream"})
    assert status == 200, body
    document = json.loads(body)
    jsonschema.validate(document, SCHEMA)
    return document["files"][0]


def _step(report: dict, name: str) -> dict:
    return next(s for s in report["document_steps"] if s["name"] == name)


def test_pdf_licence_is_reported_on_top_of_its_seal_and_revoked_online_and_on_the_page(home):
    issued, path = _issue(home, "person", "pdf")
    code, offline = _verify_cli(home, path)
    assert code == 0 and offline["indication"] == "TOTAL_PASSED", offline
    licence = offline["licence"]
    assert licence["licence_id"] == issued["licence_id"] and licence["check_character"] == "valid"
    assert licence["type"] == {"code": QUALIFICATION, "name": "职业资格证书"}
    assert licence["holder"] == {"kind": "person", "name": "王*明", "code": "110105********002X"}
    assert licence["validity"]["from"] == issued["valid_from"] and licence["metadata_protected"] is True
    assert licence["status"] is None and any("not checked" in n for n in offline["notes"])
    assert "王小明" not in json.dumps(offline, ensure_ascii=False) and PERSON_ID not in json.dumps(offline)
    assert _step(offline, "licence_identifier")["passed"] and _step(offline, "licence_metadata")["passed"]

    code, online = _verify_cli(home, path, "--online")
    assert code == 0 and online["indication"] == "TOTAL_PASSED", online
    assert online["licence"]["status"] == "valid"
    assert online["licence"]["status_source"] == \
        f"{home['base']}/licences/api/v1/licences/{issued['licence_id']}/status"

    cli(home["env"], "licence", "revoke", issued["licence_id"], "--reason", "注销", "--json")
    code, revoked = _verify_cli(home, path, "--online")
    assert code != 0
    assert (revoked["indication"], revoked["sub_indication"]) == ("TOTAL_FAILED", "REVOKED"), revoked
    assert revoked["licence"]["status"] == "revoked"
    assert not _step(revoked, "licence_status")["passed"]
    assert all(s["indication"] == "TOTAL_PASSED" for s in revoked["signatures"])  # the seal is intact
    code, still_offline = _verify_cli(home, path)
    assert code == 0 and still_offline["licence"]["status"] is None  # offline cannot know: the note says so

    # The server's API and page ask its own library in-process (never a URL from the document).
    failed = _L(verdict="TOTAL_FAILED")
    verified_before = counted(home, "yitong_licence_files_verified_total").get(failed, 0)
    from_api = _verify_api(home, path.read_bytes())
    assert (from_api["indication"], from_api["sub_indication"]) == ("TOTAL_FAILED", "REVOKED")
    assert counted(home, "yitong_licence_files_verified_total")[failed] == verified_before + 1
    assert from_api["licence"]["status"] == "revoked" and from_api["licence"]["status_source"] == \
        "this server's licence library"
    status, _, page = call("POST", home["base"] + "/verify/", body=path.read_bytes(),
                           headers={"Content-Type": "application/pdf"})
    text = page.decode()
    assert status == 200 and "已吊销/注销" in text and "本电子证照无效" in text and "王*明" in text
    assert "王小明" not in text and "颁发机构已吊销" in text


def test_ofd_licence_has_its_block_and_a_tampered_identifier_fails_its_check_character(home):
    issued, path = _issue(home, "organisation", "ofd")
    report = _verify_api(home, path.read_bytes())
    assert report["format"] == "ofd" and report["indication"] == "TOTAL_PASSED", report
    licence = report["licence"]
    assert licence["licence_id"] == issued["licence_id"] and licence["check_character"] == "valid"
    assert licence["holder"] == {"kind": "organisation", "name": "天津市示例餐饮有限公司", "code": "911201********L296"}
    assert licence["status"] == "valid" and licence["metadata_protected"] is True
    assert _step(report, "licence_metadata")["passed"]

    # Change the identifier's serial in OFD.xml (the check character no longer fits), as a forger would.
    ident = parse_identifier(issued["licence_id"])
    forged_serial = f"{int(ident.serial) + 1:012d}"
    forged_id = issued["licence_id"].replace(f".{ident.serial}.", f".{forged_serial}.")
    source = zipfile.ZipFile(io.BytesIO(path.read_bytes()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info)
            if info.filename == "OFD.xml":
                content = content.replace(issued["licence_id"].encode(), forged_id.encode())
            target.writestr(info, content)
    tampered = _verify_api(home, out.getvalue())
    assert (tampered["indication"], tampered["sub_indication"]) == ("TOTAL_FAILED", "FORMAT_FAILURE")
    [seal] = tampered["signatures"]  # OFD.xml is among the files our seal protects: the seal fails too
    assert seal["indication"] == "TOTAL_FAILED" and {"file": "/OFD.xml", "matches": False, "problem": "changed"} \
        in seal["ofd"]["references"]
    step = _step(tampered, "licence_identifier")
    assert not step["passed"] and "check character" in step["reason"]
    assert tampered["licence"]["check_character"] == "invalid" and tampered["licence"]["status"] is None


def test_pdf_licence_changed_after_sealing_fails(home):
    issued, path = _issue(home, "organisation", "pdf")
    writer = IncrementalPdfFileWriter(io.BytesIO(path.read_bytes()))
    info = writer.trailer["/Info"].get_object()
    ident = parse_identifier(issued["licence_id"])
    forged = re.sub(r"\.[0-9A-Z]$", "." + ("0" if ident.check != "0" else "1"), issued["licence_id"])
    info[generic.pdf_name("/LicenceIdentifier")] = generic.TextStringObject(forged)
    writer.update_container(info)
    changed = io.BytesIO()
    writer.write(changed)
    target = home["tmp"] / "changed.pdf"
    target.write_bytes(changed.getvalue())
    code, report = _verify_cli(home, target)
    assert code != 0 and report["indication"] == "TOTAL_FAILED", report
    assert report["licence"]["licence_id"] == forged and report["licence"]["check_character"] == "invalid"
    assert not _step(report, "licence_identifier")["passed"]
    metadata = _step(report, "licence_metadata")
    assert not metadata["passed"] and "changed in a revision" in metadata["reason"]



def test_a_superseded_licence_is_reported_no_longer_in_force_online(home):
    issued, path = _issue(home, "organisation", "pdf")
    data = home["tmp"] / "changed-data.json"
    changed = {**FOOD_DATA, "premises": "天津市和平区南京路2号"}
    data.write_text(json.dumps(changed, ensure_ascii=False), encoding="utf-8")
    newer = cli(home["env"], "licence", "supersede", issued["licence_id"], "--data", str(data), "--reason",
                "变更经营场所", "--out", str(home["tmp"] / "v2.pdf"), "--json")
    assert newer["licence_id"] != issued["licence_id"]
    code, old = _verify_cli(home, path, "--online")
    assert code != 0 and (old["indication"], old["sub_indication"]) == ("TOTAL_FAILED", "REVOKED")
    assert old["licence"]["status"] == "superseded"
    code, new = _verify_cli(home, home["tmp"] / "v2.pdf", "--online")
    assert code == 0 and new["licence"]["status"] == "valid" and new["licence"]["licence_id"] == newer["licence_id"]


def test_a_scanned_2d_code_is_checked_on_the_page_by_the_api_and_by_the_cli(home):
    """Item 7 of issue 15: the /verify/ page and API take what a licence's QR holds and check its SM2
    signature offline against the trust anchors (the seal's certificate from this server's registry), the
    identifier's check character, the validity and the live status; forged, altered and garbage codes get a
    clear verdict, never a 500; `yitong verify --payload` does the same with the seal's certificate."""
    import base64
    from datetime import UTC, date, datetime, timedelta
    from urllib.parse import urlencode

    from pyhanko.pdf_utils.reader import PdfFileReader

    from tests.licence.support import scan_code
    from verify.payload import check_payload
    from verify.trust import TrustBundle

    issued, path = _issue(home, "org", "pdf")
    scanned = scan_code(path.read_bytes(), home["tmp"])
    base = home["base"]
    JSON, FORM = {"Content-Type": "application/json"}, {"Content-Type": "application/x-www-form-urlencoded"}

    def form(text: str) -> bytes:
        return urlencode({"payload": text}).encode()

    status, _, body = call("POST", f"{base}/verify/api/v1/payload", body=json.dumps({"payload": scanned}).encode(),
                           headers=JSON)
    answer = json.loads(body)
    assert status == 200 and answer["verdict"] == "valid" and answer["status"] == "valid", answer
    licence = answer["licence"]
    assert licence["licence_id"] == issued["licence_id"] and licence["check_character"] == "valid"
    assert licence["type"] == FOOD and licence["validity"]["from"] == issued["valid_from"]
    assert re.fullmatch(r"[0-9a-f]{64}", licence["data_digest"])
    assert [s["name"] for s in answer["steps"]] == ["payload", "seal_certificate", "signature", "certificate_chain",
                                                   "revocation", "licence_identifier", "validity", "licence_status"]

    # The page: the pasted URL (or the bare payload), bilingual, the identifier and the holder shown.
    status, _, page = call("POST", f"{base}/verify/", body=form(scanned.split("?c=")[1]), headers=FORM)
    text = page.decode()
    assert status == 200 and 'data-verdict="valid"' in text and issued["licence_id"] in text and "校验码正确" in text

    # Altered: one claim changed (a later end date), the signature kept → forged; nothing of it shown.
    compact = scanned.split("?c=")[1]
    claims = json.loads(base64.urlsafe_b64decode(compact.split(".")[0] + "=="))
    claims["u"] = "2099-12-31"
    altered = base64.urlsafe_b64encode(json.dumps(claims, ensure_ascii=False, separators=(",", ":")).encode()
                                       ).rstrip(b"=").decode() + "." + compact.split(".")[1]
    status, _, body = call("POST", f"{base}/verify/api/v1/payload", body=json.dumps({"payload": altered}).encode(),
                           headers=JSON)
    assert status == 200 and json.loads(body)["verdict"] == "forged" and json.loads(body)["licence"] is None
    # Garbage, HTML and an empty field: a clear verdict or a 400, never a 500.
    for junk in ("<script>alert(1)</script>", "abc.def", "https://example.org/licences/v?x=1"):
        status, _, page = call("POST", f"{base}/verify/", body=form(junk), headers=FORM)
        assert status == 200 and 'data-verdict="invalid"' in page.decode() and "<script>alert" not in page.decode()
    status, _, page = call("POST", f"{base}/verify/", body=form(""), headers=FORM)
    assert status == 400 and 'role="alert"' in page.decode()
    assert call("POST", f"{base}/verify/api/v1/payload", body=b"[]", headers=JSON)[0] == 400

    # Expired: the same authentic code checked on a day after its end date.
    trust = TrustBundle.from_file(Path(home["env"]["YITONG_HOME"]) / "pki" / "trust.pem")
    [signature] = PdfFileReader(io.BytesIO(path.read_bytes())).embedded_signatures
    cert = signature.signer_cert.dump()
    intermediates = Path(home["env"]["YITONG_HOME"]) / "pki" / "intermediates.pem"
    later = date.fromisoformat(issued["valid_to"]) + timedelta(days=1)
    expired = check_payload(scanned, trust, certificate=lambda esid: cert,
                            certs=TrustBundle.from_file(intermediates).certificates,
                            at=datetime(later.year, later.month, later.day, 12, tzinfo=UTC))
    assert expired["verdict"] == "expired" and expired["steps"][-1]["name"] == "validity", expired

    # The CLI, offline with the seal's certificate; then revoked, the page says so (live status).
    cert_file = home["tmp"] / "seal-cert.der"
    run_yitong(["seal", "export", licence["esid"], "--cert", str(cert_file)], home["env"])
    assert cert_file.read_bytes() == cert  # the seal's certificate, as the sealed file carries it
    done = run_yitong(["verify", "--json", "--payload", scanned, "--seal-cert", str(cert_file)], home["env"])
    assert done.returncode == 0 and json.loads(done.stdout)["verdict"] == "valid", done.stderr.decode()[-800:]
    done = run_yitong(["verify", "--payload", altered, "--seal-cert", str(cert_file)], home["env"])
    assert done.returncode == 1 and done.stdout.decode().startswith("FORGED") and b"Traceback" not in done.stderr
    assert run_yitong(["verify", "--payload", scanned], home["env"]).returncode == 2  # no --seal-cert: usage
    cli(home["env"], "licence", "revoke", issued["licence_id"], "--reason", "吊销", "--json")
    status, _, body = call("POST", f"{base}/verify/api/v1/payload", body=json.dumps({"payload": scanned}).encode(),
                           headers=JSON)
    assert json.loads(body)["verdict"] == "revoked" and json.loads(body)["status"] == "revoked"
