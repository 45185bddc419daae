"""verify_ofd on an OFD sealed here (the test PKI's SM2 seal, a V4 SES_Signature over Signature.xml): it passes,
and the attacks fail it; the server's own CRLs reach the OFD path as they reach the PDF path.

The sealing code is seal/'s (issue 14, part B); this test assembles the few structures by hand, so that
verify/ is tested against bytes it did not make itself.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import core

from keys.ses.asn1 import SESeal, SESSignature, TBSSign
from keys.sm3 import sm3
from tests.ofd.support import corpus_ofd, entries, rezip
from verify import INDETERMINATE, TOTAL_FAILED, TOTAL_PASSED
from verify.ofd import verify_ofd

NS = "http://www.ofdspec.org/2016"
SHOWN = ["OFD.xml", "Doc_0/Document.xml", "Doc_0/PublicRes.xml", "Doc_0/Pages/Page_0/Content.xml"]


def _bits(data: bytes) -> core.BitString:
    return core.BitString.load(b"\x03" + _length(len(data) + 1) + b"\x00" + data)


def _length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def seal_ofd(data: bytes, who, *, stamp=(50.0, 50.0, 40.0, 40.0), protect=SHOWN) -> bytes:
    """``data`` (an unsigned OFD) with one GB/T 38540 V4 seal of ``who`` on page 1."""
    files = dict(entries(data))
    ofd_xml = files["OFD.xml"].replace(b"</ofd:DocRoot>",
                                       b"</ofd:DocRoot><ofd:Signatures>Doc_0/Signs/Signatures.xml</ofd:Signatures>")
    files = {**files, "OFD.xml": ofd_xml, "Doc_0/Signs/Sign_0/Seal.esl": who.seal}
    references = "".join(
        f'<ofd:Reference FileRef="/{name}"><ofd:CheckValue>{base64.b64encode(sm3(files[name])).decode()}'
        f"</ofd:CheckValue></ofd:Reference>" for name in [*protect, "Doc_0/Signs/Sign_0/Seal.esl"])
    x, y, w, h = stamp
    signature_xml = (
        f'<?xml version="1.0" encoding="UTF-8"?><ofd:Signature xmlns:ofd="{NS}"><ofd:SignedInfo>'
        f'<ofd:Provider ProviderName="yitong-test" Company="Yitong" Version="1"/>'
        f"<ofd:SignatureMethod>1.2.156.10197.1.501</ofd:SignatureMethod>"
        f"<ofd:SignatureDateTime>{datetime.now(UTC):%Y%m%d%H%M%SZ}</ofd:SignatureDateTime>"
        f'<ofd:References CheckMethod="1.2.156.10197.1.401">{references}</ofd:References>'
        f'<ofd:StampAnnot ID="9" PageRef="1" Boundary="{x} {y} {w} {h}"/>'
        f"<ofd:Seal><ofd:BaseLoc>Seal.esl</ofd:BaseLoc></ofd:Seal></ofd:SignedInfo>"
        f"<ofd:SignedValue>SignedValue.dat</ofd:SignedValue></ofd:Signature>").encode()
    tbs = TBSSign({"version": 4, "eseal": SESeal.load(who.seal), "time_info": datetime.now(UTC).replace(microsecond=0),
                   "data_hash": _bits(sm3(signature_xml)), "property_info": "/Doc_0/Signs/Sign_0/Signature.xml"})
    tbs_der = tbs.dump()
    value = SESSignature({"to_sign": TBSSign.load(tbs_der), "cert": who.certificate.dump(),
                          "signature_alg_id": "1.2.156.10197.1.501", "signature": _bits(who.key.sign(tbs_der))})
    signatures_xml = (f'<?xml version="1.0" encoding="UTF-8"?><ofd:Signatures xmlns:ofd="{NS}"><ofd:MaxSignId>1'
                      f'</ofd:MaxSignId><ofd:Signature ID="1" Type="Seal" BaseLoc="Sign_0/Signature.xml"/>'
                      f"</ofd:Signatures>").encode()
    return rezip(data, replace={"OFD.xml": ofd_xml}, add=[
        ("Doc_0/Signs/Signatures.xml", signatures_xml), ("Doc_0/Signs/Sign_0/Signature.xml", signature_xml),
        ("Doc_0/Signs/Sign_0/Seal.esl", who.seal), ("Doc_0/Signs/Sign_0/SignedValue.dat", value.dump())])


@pytest.fixture(scope="module")
def sealed(world) -> bytes:
    return world.doc("ofd-sealed-sm2", lambda: seal_ofd(corpus_ofd("ofdrw-helloworld-unsigned.ofd"), world.sm2))


def own_cas(world) -> list[bytes]:
    return [world.pki.ca_certificate(ca).dump() for ca in world.pki.ca_names()]


def test_an_ofd_sealed_with_our_pki_passes_every_check(world, sealed):
    # an SES_Signature carries only the signer's certificate: without the issuing CA no path can be built offline
    alone = verify_ofd(sealed, world.trust, crls=world.crls(world.sm2))
    chain = next(s for s in alone.signatures[0].steps if s.name.value == "certificate_chain")
    assert alone.indication[0] == INDETERMINATE and chain.sub_indication == "NO_CERTIFICATE_CHAIN_FOUND"
    report = verify_ofd(sealed, world.trust, crls=world.crls(world.sm2), certs=own_cas(world))
    failures = [step.as_dict() for sig in report.signatures for step in sig.steps if not step.passed]
    assert report.indication == (TOTAL_PASSED, None), failures
    (sig,) = report.signatures
    assert {step.name.value for step in sig.steps} >= {
        "references", "unprotected_content", "stamp_annot", "seal_file", "signature", "data_hash",
        "seal_maker_signature", "signer_in_cert_list", "certificate_chain", "maker_certificate_chain"}
    assert not sig.deviations and sig.seal["es_id"] == "12010020261128000001"
    assert sig.widget["page"] == 0 and sig.ofd["references"] and all(r["matches"] for r in sig.ofd["references"])


def test_attacks_on_our_sealed_ofd_fail(world, sealed):
    files = dict(entries(sealed))
    page = files["Doc_0/Pages/Page_0/Content.xml"]
    attacks = {
        "page changed": rezip(sealed, replace={"Doc_0/Pages/Page_0/Content.xml": page.replace(b"OFD", b"0FD")}),
        "stamp moved": rezip(sealed, replace={"Doc_0/Signs/Sign_0/Signature.xml": files[
            "Doc_0/Signs/Sign_0/Signature.xml"].replace(b'Boundary="50.0 50.0', b'Boundary="150.0 50.0')}),
        "seal swapped": rezip(sealed, replace={"Doc_0/Signs/Sign_0/Seal.esl": world.make_seal(
            world.sm2.certificate)}),
    }
    expected = {"page changed": "references", "stamp moved": "data_hash", "seal swapped": "seal_file"}
    for name, data in attacks.items():
        report = verify_ofd(data, world.trust, crls=world.crls(world.sm2), certs=own_cas(world))
        assert report.indication[0] == TOTAL_FAILED, name
        failing = {step.name.value for step in report.signatures[0].steps if not step.passed}
        assert expected[name] in failing, (name, failing)


def test_an_unprotected_page_of_a_genuine_seal_fails(world):
    data = seal_ofd(corpus_ofd("ofdrw-helloworld-unsigned.ofd"), world.sm2,
                    protect=[name for name in SHOWN if name != "Doc_0/Pages/Page_0/Content.xml"])
    report = verify_ofd(data, world.trust, crls=world.crls(world.sm2), certs=own_cas(world))
    step = next(s for s in report.signatures[0].steps if s.name.value == "unprotected_content")
    assert not step.passed and "/Doc_0/Pages/Page_0/Content.xml" in step.reason
    assert report.indication[0] == TOTAL_FAILED


def test_the_servers_own_crls_reach_the_ofd_path(world):
    who = world.identity("sm2", seal=True)
    data = seal_ofd(corpus_ofd("ofdrw-helloworld-unsigned.ofd"), who)
    # Revocation times have one-second resolution: revoked strictly after the claimed signing time.
    world.pki.revoke(who.ca, who.serial, "keyCompromise", at=datetime.now(UTC) + timedelta(seconds=2))
    report = verify_ofd(data, world.trust, crls=world.crls(who), certs=own_cas(world))
    revocation = next(s for s in report.signatures[0].steps if s.name.value == "revocation")
    assert not revocation.passed and revocation.sub_indication == "REVOKED_NO_POE", revocation
    assert report.indication[0] != TOTAL_PASSED


def test_the_documents_api_passes_our_sealed_ofd_with_the_servers_own_cas(world, sealed):
    from flask import Flask

    from verify import web

    app = Flask("verify-ofd-own")
    web.register(app, web.VerifyService(world.pki.trust_bundle, crls=lambda: world.crls(world.sm2),
                                        certs=lambda: own_cas(world)))
    response = app.test_client().post("/verify/api/v1/documents", data=sealed)
    entry = response.get_json()["files"][0]
    assert (entry["format"], entry["indication"]) == ("ofd", "TOTAL_PASSED"), entry


def test_cli_exit_0_with_the_issuing_ca_given_by_certs_and_1_after_a_changed_byte(world, sealed, tmp_path):

    from tests.helpers import clean_env, run_yitong

    env = clean_env()
    (tmp_path / "sealed.ofd").write_bytes(sealed)
    (tmp_path / "trust.pem").write_bytes(world.pki.trust_bundle())
    issuing = tmp_path / "sm2-issuing.crt"
    issuing.write_bytes(world.pki.ca_certificate(world.sm2.ca).dump())
    base = ["verify", str(tmp_path / "sealed.ofd"), "--trust", str(tmp_path / "trust.pem")]
    assert run_yitong(base, env).returncode == 3  # no path without the intermediate
    passed = run_yitong([*base, "--certs", str(issuing)], env)
    assert passed.returncode == 0, passed.stdout.decode() + passed.stderr.decode()
    page = dict(entries(sealed))["Doc_0/Pages/Page_0/Content.xml"]
    (tmp_path / "sealed.ofd").write_bytes(rezip(sealed, replace={
        "Doc_0/Pages/Page_0/Content.xml": page.replace(b'Size="3.0"', b'Size="3.1"')}))
    changed = run_yitong([*base, "--certs", str(issuing)], env)
    assert changed.returncode == 1 and "HASH_FAILURE" in changed.stdout.decode()
