"""`yitong seal` as an operator runs it, against a running service (its /pki/ answers OCSP)."""

from __future__ import annotations

import json
import subprocess

import pytest

from keys import ses
from tests.helpers import require_tool, run_yitong
from tests.seal.pdfs import make_pdf
from tests.seal.service import yitong_service
from tests.seal.support import ORG_NAME, ORG_USCC

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("seal-cli")
    with yitong_service(tmp / "home") as (base, env):
        yield {"base": base, "env": env, "tmp": tmp}


def yitong(service, *args: str, input: bytes | None = None):
    return run_yitong(list(args), service["env"], input=input)


def create(service, algorithm: str, seal_type: str = "06") -> dict:
    made = yitong(service, "seal", "create", "--holder-kind", "org", "--holder-id", ORG_USCC, "--holder-name",
                  ORG_NAME, "--type", seal_type, "--algorithm", algorithm, "--json")
    assert made.returncode == 0, made.stderr.decode()
    return json.loads(made.stdout)


def test_create_list_suspend_resume_revoke(service):
    record = create(service, "sm2", "04")
    assert set(record) == {"esid", "holder", "type", "algorithm", "status", "cert_serial", "valid_to"}
    assert record["esid"].startswith("120000") and len(record["esid"]) == 14
    assert (record["type"], record["algorithm"], record["status"]) == (4, "sm2", "active")
    listed = json.loads(yitong(service, "seal", "list", "--json").stdout)
    assert record["esid"] in [r["esid"] for r in listed]

    suspended = yitong(service, "seal", "suspend", record["esid"], "--reason", "印章遗失", "--json")
    assert json.loads(suspended.stdout)["status"] == "suspended"
    doc = service["tmp"] / "doc.pdf"
    doc.write_bytes(make_pdf(1))
    refused = yitong(service, "seal", "sign", "--seal", record["esid"], "--in", str(doc), "--out",
                     str(service["tmp"] / "never.pdf"))
    assert refused.returncode == 2 and refused.stderr.decode().startswith("yitong: error: ")
    assert b"suspended" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert not (service["tmp"] / "never.pdf").exists()
    assert json.loads(yitong(service, "seal", "resume", record["esid"], "--reason", "找回", "--json").stdout)[
        "status"] == "active"
    revoked = yitong(service, "seal", "revoke", record["esid"], "--reason", "注销", "--json")
    assert json.loads(revoked.stdout)["status"] == "revoked"
    again = yitong(service, "seal", "resume", record["esid"], "--reason", "x")
    assert again.returncode == 2 and b"revoked" in again.stderr

    shown = json.loads(yitong(service, "seal", "show", record["esid"], "--json").stdout)
    assert [e["event"] for e in shown["events"]] == ["applied", "approved", "made", "suspended", "resumed", "revoked"]
    assert all(e["actor"].startswith("cli/") for e in shown["events"])
    assert shown["events"][3]["reason"] == "印章遗失"


def test_bad_usage_is_one_line(service):
    for args in (["seal", "suspend", "12", "--reason", "x"],
                 ["seal", "create", "--holder-kind", "org", "--holder-id", "bad", "--holder-name", "x", "--type",
                  "06"],
                 ["seal", "create", "--holder-kind", "org", "--holder-id", ORG_USCC, "--holder-name", "x", "--type",
                  "42"]):
        result = yitong(service, *args)
        assert result.returncode == 2, args
        assert b"Traceback" not in result.stderr


def test_sign_p256_and_check_with_pdfsig_and_the_esl(service):
    pdfsig, certutil = require_tool("pdfsig"), require_tool("certutil")
    record = create(service, "p256")
    tmp = service["tmp"]
    doc, out = tmp / "p256.pdf", tmp / "p256-sealed.pdf"
    doc.write_bytes(make_pdf(2, tag="pdfsig"))
    signed = yitong(service, "seal", "sign", "--seal", record["esid"], "--in", str(doc), "--out", str(out),
                    "--page", "2", "--x-mm", "150", "--y-mm", "250", "--json")
    assert signed.returncode == 0, signed.stderr.decode()
    summary = json.loads(signed.stdout)
    assert (summary["page"], summary["level"]) == (2, "B-LT")

    nss = tmp / "nss"
    nss.mkdir()
    subprocess.run([certutil, "-N", "-d", f"sql:{nss}", "--empty-password"], check=True, capture_output=True)
    import urllib.request

    root = urllib.request.urlopen(service["base"] + "/pki/ca/p256-root.crt", timeout=10).read()
    (tmp / "root.der").write_bytes(root)
    subprocess.run([certutil, "-A", "-d", f"sql:{nss}", "-n", "yitong-p256-root", "-t", "CT,C,C", "-i",
                    str(tmp / "root.der")], check=True, capture_output=True)
    # pdfsig asks the certificate's OCSP responder, our running /pki/ocsp.
    checked = subprocess.run([pdfsig, "-nssdir", str(nss), str(out)], capture_output=True, text=True, timeout=60)
    assert "Signature is Valid" in checked.stdout, checked.stdout + checked.stderr
    assert "Certificate is Trusted" in checked.stdout, checked.stdout
    tampered = bytearray(out.read_bytes())
    tampered[tampered.index(b"Yitong test document")] ^= 0x20
    (tmp / "tampered.pdf").write_bytes(bytes(tampered))
    checked = subprocess.run([pdfsig, "-nssdir", str(nss), str(tmp / "tampered.pdf")], capture_output=True,
                             text=True, timeout=60)
    assert "Signature is Valid" not in checked.stdout

    esl = tmp / "seal.esl"
    assert yitong(service, "seal", "export", record["esid"], "--esl", str(esl), "--svg", str(tmp / "s.svg"),
                  "--png", str(tmp / "s.png")).returncode == 0
    seal = ses.parse_seal(esl.read_bytes())
    assert seal.es_id == record["esid"] and seal.type == 6 and ses.verify_maker_signature(seal).passed
    assert (tmp / "s.svg").read_text().startswith("<svg") and (tmp / "s.png").read_bytes()[:4] == b"\x89PNG"


def test_approve_and_make_an_application(service):
    from seal.registry import SealRegistry
    from yitong.home import Home
    from yitong.settings import Settings

    home = Home(Settings.from_env(service["env"]))
    registry = SealRegistry(home.engine, home.keystore(), home.pki())
    applied = registry.apply(holder_kind="org", holder_id=ORG_USCC, holder_name=ORG_NAME, seal_type=2,
                             algorithm="sm2", actor="idp:someone")
    home.engine.dispose()
    made = yitong(service, "seal", "make", applied.esid, "--json")
    assert made.returncode == 2 and b"approved" in made.stderr  # not approved yet
    assert json.loads(yitong(service, "seal", "approve", applied.esid, "--reason", "材料齐全", "--json").stdout)[
        "status"] == "approved"
    made = json.loads(yitong(service, "seal", "make", applied.esid, "--json").stdout)
    assert made["status"] == "active" and made["cert_serial"]


def test_the_api_seals_out_of_the_box_with_one_client_and_no_seal_client_settings(service):
    """As the README says: `db upgrade`, serve, one client with the seal scopes, a token, a sealed
    PDF. No YITONG_SEAL_CLIENT_*: the home's own introspection client (issue 12, item 16)."""
    import base64
    import urllib.parse
    import urllib.request

    assert not any(name.startswith("YITONG_SEAL_CLIENT") for name in service["env"])
    record = create(service, "sm2")
    biz = json.loads(yitong(service, "client", "create", "--name", "biz", "--grant", "client_credentials",
                            "--scope", "seal:read seal:sign", "--json").stdout)
    assert yitong(service, "seal", "grant", record["esid"], "--client", biz["client_id"]).returncode == 0
    basic = base64.b64encode(f"{biz['client_id']}:{biz['client_secret']}".encode()).decode()
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "resource": f"{service['base']}/seal"})
    request = urllib.request.Request(service["base"] + "/token", data=form.encode(), headers={
        "Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"})
    access = json.loads(urllib.request.urlopen(request, timeout=10).read())["access_token"]
    signing = urllib.request.Request(f"{service['base']}/seal/seals/{record['esid']}/sign", data=make_pdf(1),
                                     headers={"Authorization": f"Bearer {access}", "Content-Type": "application/pdf"})
    with urllib.request.urlopen(signing, timeout=60) as response:
        assert response.status == 200 and response.headers["Content-Type"] == "application/pdf"
        sealed = service["tmp"] / "sealed-over-the-api.pdf"
        sealed.write_bytes(response.read())
    checked = yitong(service, "verify", str(sealed), "--json")
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()


def test_sign_an_ofd_by_keyword_with_a_riding_seam_and_refuse_a_p256_seal(service):
    from tests.ofd.support import corpus
    from tests.seal.ofd_checks import check_sealed

    record = create(service, "sm2", "04")
    tmp = service["tmp"]
    out = tmp / "sealed.ofd"
    signed = yitong(service, "seal", "sign", "--seal", record["esid"], "--in",
                    str(corpus("ofd", "ofdrw-helloworld-unsigned.ofd")), "--out", str(out), "--keyword", "Reader",
                    "--riding", "--page-image", str(tmp / "page.png"), "--json")
    assert signed.returncode == 0, signed.stderr.decode()
    summary = json.loads(signed.stdout)
    assert (summary["format"], summary["field"], summary["page"], summary["level"]) == ("ofd", "Sign_0", 1, "B-T")
    [signature] = check_sealed(out.read_bytes()).signatures
    assert len(signature.stamp_annots) == 2  # the keyword's stamp and the one-page riding seam
    from PIL import Image

    with Image.open(tmp / "page.png") as page:  # 1240 px for the 210 mm page, the stamps drawn in red
        assert page.size == (1240, 1754)
        assert any(r > 150 and g < 100 for _count, (r, g, _b) in page.convert("RGB").getcolors(1 << 22))
    # An SES_Signature carries only the signer's certificate. With the home's bundle the verifier also
    # takes the home's pki/intermediates.pem: exit 0 with no option; a relying party given only the
    # published trust.pem gets INDETERMINATE (3) until it adds the published /pki/intermediates.pem.
    import urllib.request

    from tests.ofd.support import rezip

    checked = yitong(service, "verify", str(out))
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
    assert "intermediate CAs:" in checked.stderr.decode()
    trust, issuing = tmp / "trust.pem", tmp / "intermediates.pem"
    trust.write_bytes(urllib.request.urlopen(service["base"] + "/pki/trust.pem", timeout=10).read())
    issuing.write_bytes(urllib.request.urlopen(service["base"] + "/pki/intermediates.pem", timeout=10).read())
    assert b"Issuing CA" in issuing.read_bytes() and b"Root CA" not in issuing.read_bytes()
    assert yitong(service, "verify", str(out), "--trust", str(trust)).returncode == 3
    checked = yitong(service, "verify", str(out), "--trust", str(trust), "--certs", str(issuing))
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
    content = "Doc_0/Pages/Page_0/Content.xml"
    import io
    import zipfile

    page = zipfile.ZipFile(io.BytesIO(out.read_bytes())).read(content)
    (tmp / "changed.ofd").write_bytes(rezip(out.read_bytes(), replace={content: page.replace(b"OFD", b"OFd")}))
    assert yitong(service, "verify", str(tmp / "changed.ofd"), "--certs", str(issuing)).returncode == 1
    p256 = create(service, "p256")
    refused = yitong(service, "seal", "sign", "--seal", p256["esid"], "--in", str(out), "--out",
                     str(tmp / "p256.ofd"))
    assert refused.returncode == 2 and not (tmp / "p256.ofd").exists()
    assert refused.stderr.decode().count("\n") == 1 and "SM2" in refused.stderr.decode()
