"""The CA hierarchy on real storage, checked by OpenSSL 3.0 (P-256 fully, SM2 link by link)
and by pyhanko-certvalidator with our SM2 signature validator."""

from __future__ import annotations

import subprocess
import threading
from datetime import timedelta

import pytest
from asn1crypto import crl as asn1_crl
from pyhanko_certvalidator.errors import ExpiredError, InsufficientRevinfoError, RevokedError
from sqlalchemy import select, update

from keys.pki.certificates import Issuer, load_csr
from keys.pki.crl import RevokedEntry, build_crl
from keys.pki.models import crls_table
from keys.pki.profiles import PkiError
from keys.storage import utcnow
from tests.helpers import require_tool
from tests.keys.pki_support import DISTID, make_pki, openssl_csr, validate, write_pem


@pytest.fixture
def openssl():
    return require_tool("openssl")


@pytest.fixture
def pki(storage, tmp_path):
    return make_pki(storage, tmp_path)


def test_init_creates_two_hierarchies_and_a_trust_bundle_of_their_roots(pki, tmp_path):
    assert pki.ca_names() == ["p256-issuing", "p256-root", "sm2-issuing", "sm2-root"]
    bundle = (tmp_path / "pki" / "trust.pem").read_bytes()
    assert bundle.count(b"BEGIN CERTIFICATE") == 2
    assert b"SM2 Root CA" in bundle and b"P256 Root CA" in bundle
    assert pki.init() == []  # idempotent


def test_parent_ca_names_the_issuing_cas_root_and_refuses_an_unknown_ca(pki):
    assert pki.parent_ca("sm2-issuing") == "sm2-root"
    assert pki.parent_ca("p256-issuing") == "p256-root"
    assert pki.parent_ca("sm2-root") is None
    with pytest.raises(PkiError, match="no CA named 'nope'"):
        pki.parent_ca("nope")


def test_p256_chain_verifies_with_openssl(pki, openssl, tmp_path):
    issued = pki.issue("seal", request=load_csr(openssl_csr(openssl, tmp_path, "p256")))
    root, issuing = write_pem(tmp_path / "root.pem", pki.ca_certificate("p256-root")), \
        write_pem(tmp_path / "issuing.pem", pki.ca_certificate("p256-issuing"))
    leaf = write_pem(tmp_path / "leaf.pem", issued.certificate)
    result = subprocess.run([openssl, "verify", "-CAfile", str(root), "-untrusted", str(issuing), str(leaf)],
                            capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip().endswith(": OK"), result.stderr


def test_sm2_chain_verifies_with_openssl_link_by_link(pki, openssl, tmp_path):
    issued = pki.issue("seal", request=load_csr(openssl_csr(openssl, tmp_path, "sm2")),
                       subject="CN=天津某某科技有限公司,O=天津某某科技有限公司,C=CN,serialNumber=91120116MA05XXXX0X")
    root = write_pem(tmp_path / "root.pem", pki.ca_certificate("sm2-root"))
    issuing = write_pem(tmp_path / "issuing.pem", pki.ca_certificate("sm2-issuing"))
    leaf = write_pem(tmp_path / "leaf.pem", issued.certificate)
    first = subprocess.run([openssl, "verify", "-vfyopt", DISTID, "-CAfile", str(root), str(issuing)],
                           capture_output=True, text=True)
    second = subprocess.run([openssl, "verify", "-vfyopt", DISTID, "-partial_chain", "-CAfile", str(issuing),
                             str(leaf)], capture_output=True, text=True)
    assert first.returncode == 0 and first.stdout.strip().endswith(": OK"), first.stderr
    assert second.returncode == 0 and second.stdout.strip().endswith(": OK"), second.stderr
    assert issued.certificate.subject.native["serial_number"] == "91120116MA05XXXX0X"


def test_profiles_carry_the_right_extensions(pki):
    issued = {}
    for profile_name in ("seal", "login", "tsa", "ocsp"):
        record = pki.keystore.generate("token", "p256")
        issued[profile_name] = pki.issue(profile_name, kid=record.kid, subject=f"CN={profile_name} test").certificate
    seal = issued["seal"]
    assert seal.key_usage_value.native == {"digital_signature", "non_repudiation"}
    assert seal.basic_constraints_value.native["ca"] is False
    assert seal.authority_key_identifier == pki.ca_certificate("p256-issuing").key_identifier
    assert seal.crl_distribution_points[0].url == "http://127.0.0.1:8000/pki/crl/p256-issuing.crl"
    assert seal.ocsp_urls == ["http://127.0.0.1:8000/pki/ocsp"]
    assert issued["login"].extended_key_usage_value.native == ["client_auth"]
    extensions = issued["tsa"]["tbs_certificate"]["extensions"]
    tsa_eku = next(e for e in extensions if e["extn_id"].native == "extended_key_usage")
    assert tsa_eku["critical"].native is True and tsa_eku["extn_value"].native == ["time_stamping"]
    assert issued["ocsp"].ocsp_no_check_value is not None
    assert issued["ocsp"].extended_key_usage_value.native == ["ocsp_signing"]


def test_csr_with_a_bad_signature_is_refused(openssl, tmp_path):
    csr = bytearray(openssl_csr(openssl, tmp_path, "p256"))
    from asn1crypto import pem

    der = bytearray(pem.unarmor(bytes(csr))[2])
    der[-3] ^= 0x01
    with pytest.raises(PkiError, match="does not verify"):
        load_csr(bytes(der))


def test_sm2_csr_signed_with_openssls_empty_default_id_is_refused_with_a_hint(openssl, tmp_path):
    key = tmp_path / "k.pem"
    subprocess.run([openssl, "genpkey", "-algorithm", "SM2", "-out", str(key)], check=True)
    csr = subprocess.run([openssl, "req", "-new", "-key", str(key), "-sm3", "-subj", "/CN=x"],
                         capture_output=True, check=True).stdout
    with pytest.raises(PkiError, match="distid:1234567812345678"):
        load_csr(csr)


def test_csr_asking_to_be_a_ca_is_refused(openssl, tmp_path):
    csr = openssl_csr(openssl, tmp_path, "p256", extra=["-addext", "basicConstraints=critical,CA:TRUE"])
    with pytest.raises(PkiError, match="basic_constraints"):
        load_csr(csr)


def test_csr_subject_alt_name_is_kept(pki, openssl, tmp_path):
    csr = openssl_csr(openssl, tmp_path, "p256", extra=["-addext", "subjectAltName=email:agent@example.gov.cn"])
    issued = pki.issue("login", request=load_csr(csr))
    assert issued.certificate.subject_alt_name_value.native == ["agent@example.gov.cn"]


def test_serials_are_hex_and_accepted_in_either_case(pki):
    record = pki.keystore.generate("token", "sm2")
    issued = pki.issue("seal", kid=record.kid, subject="CN=x")
    assert int(issued.serial, 16) == issued.certificate.serial_number
    revoked = pki.revoke("sm2-issuing", issued.serial.lower(), "superseded")
    assert revoked.serial == issued.serial and revoked.status == "revoked"


@pytest.mark.parametrize("family", ["p256", "sm2"])
def test_revocation_hold_and_release_show_in_crl_and_pyhanko_validation(pki, family):
    ca = f"{family}-issuing"
    record = pki.keystore.generate("token", family)
    leaf = pki.issue("seal", kid=record.kid, subject="CN=Holder").certificate
    validate(leaf, pki, crls=[pki.crl(ca)])  # good

    pki.revoke(ca, format(leaf.serial_number, "x"), "certificateHold")
    crl = asn1_crl.CertificateList.load(pki.crl(ca))
    (entry,) = crl["tbs_cert_list"]["revoked_certificates"]
    assert entry["user_certificate"].native == leaf.serial_number
    assert entry.crl_reason_value.native == "certificate_hold"
    with pytest.raises(RevokedError, match="due to a certificate hold"):
        validate(leaf, pki, crls=[pki.crl(ca)])

    pki.revoke(ca, format(leaf.serial_number, "X"), "removeFromCRL")
    assert not asn1_crl.CertificateList.load(pki.crl(ca))["tbs_cert_list"]["revoked_certificates"].native
    validate(leaf, pki, crls=[pki.crl(ca)])

    pki.revoke(ca, format(leaf.serial_number, "X"), "keyCompromise")
    with pytest.raises(RevokedError, match="due to a compromised key"):
        validate(leaf, pki, crls=[pki.crl(ca)])


def test_crl_numbers_increase_and_revoking_twice_is_refused(pki):
    record = pki.keystore.generate("token", "p256")
    issued = pki.issue("seal", kid=record.kid, subject="CN=x")
    first = asn1_crl.CertificateList.load(pki.crl("p256-issuing")).crl_number_value.native
    pki.revoke("p256-issuing", issued.serial, "cessationOfOperation")
    second = asn1_crl.CertificateList.load(pki.crl("p256-issuing")).crl_number_value.native
    assert second > first
    with pytest.raises(PkiError, match="already revoked"):
        pki.revoke("p256-issuing", issued.serial, "keyCompromise")
    with pytest.raises(PkiError, match="no certificate"):
        pki.revoke("p256-issuing", "ABCDEF", "keyCompromise")


def test_stale_crl_is_regenerated_lazily(pki, storage):
    before = asn1_crl.CertificateList.load(pki.crl("sm2-issuing"))
    with storage.engine.begin() as conn:
        conn.execute(update(crls_table).where(crls_table.c.ca == "sm2-issuing")
                     .values(this_update=utcnow() - timedelta(hours=13)))
    after = asn1_crl.CertificateList.load(pki.crl("sm2-issuing"))
    assert after.crl_number_value.native == before.crl_number_value.native + 1


def test_concurrent_first_crl_refreshes_all_succeed_with_one_crl(pki, storage):
    """Twenty first seals at once each need the CA's first CRL: none may fail on the others' insert."""
    barrier = threading.Barrier(20)
    crls, errors = [], []

    def first_refresh():
        barrier.wait()
        try:
            crls.append(pki.crl("sm2-issuing"))
        except Exception as exc:  # collected, so that the assertion shows what the losers got
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=first_refresh) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(crls) == 20 and len(set(crls)) == 1
    with storage.engine.connect() as conn:
        rows = conn.execute(select(crls_table.c.number).where(crls_table.c.ca == "sm2-issuing")).all()
    assert [row.number for row in rows] == [1]
    assert asn1_crl.CertificateList.load(crls[0]).crl_number_value.native == 1


def test_p256_crl_verifies_with_openssl(pki, openssl, tmp_path):
    (tmp_path / "crl.der").write_bytes(pki.crl("p256-issuing"))
    issuing = write_pem(tmp_path / "issuing.pem", pki.ca_certificate("p256-issuing"))
    result = subprocess.run([openssl, "crl", "-inform", "DER", "-in", str(tmp_path / "crl.der"),
                             "-CAfile", str(issuing), "-noout", "-verify"], capture_output=True, text=True)
    # OpenSSL exits 0 even after "verify failure": judge by the text.
    assert "verify OK" in result.stderr and "failure" not in result.stderr, result.stderr


def test_sm2_crl_signed_with_the_empty_id_is_rejected(pki):
    """What OpenSSL 3.0 would sign by default must not pass our SM2 check."""
    from keys.sm2 import SM2PrivateKey

    issuer = pki.issuer("sm2-issuing")

    class EmptyIdKey:
        algorithm = "sm2"

        def __init__(self, key: SM2PrivateKey) -> None:
            self._key = key

        def sign(self, data: bytes) -> bytes:
            return self._key.sign(data, uid=b"")

    bad_issuer = Issuer(issuer.name, EmptyIdKey(issuer.key), issuer.key_identifier, issuer.ca_name, issuer.base_url)
    now = utcnow()
    bad_crl = build_crl(bad_issuer, number=99, this_update=now, next_update=now + timedelta(days=1), revoked=[])
    leaf = pki.issue("seal", kid=pki.keystore.generate("token", "sm2").kid, subject="CN=x").certificate
    with pytest.raises(InsufficientRevinfoError):
        validate(leaf, pki, crls=[bad_crl])
    good_crl = build_crl(issuer, number=100, this_update=now, next_update=now + timedelta(days=1),
                         revoked=[RevokedEntry(1, now, "superseded")])
    validate(leaf, pki, crls=[good_crl])


def test_expired_certificate_is_reported_expired(pki):
    leaf = pki.issue("seal", kid=pki.keystore.generate("token", "sm2").kid, subject="CN=x", days=1).certificate
    validate(leaf, pki, crls=[pki.crl("sm2-issuing")])
    # Three days on, today's CRLs are stale; soft-fail lets the expiry itself be what fails.
    with pytest.raises(ExpiredError):
        validate(leaf, pki, moment=utcnow() + timedelta(days=3), revocation_mode="soft-fail")


@pytest.mark.parametrize("family", ["p256", "sm2"])
def test_ocsp_answers_validate_with_pyhanko_for_both_families(pki, family):
    """The responder the service runs: delegated for P-256, the CA itself for SM2 (see delegates_ocsp)."""
    from asn1crypto import ocsp as asn1_ocsp

    leaf = pki.issue("seal", kid=pki.keystore.generate("token", family).kid, subject="CN=OCSP").certificate
    issuing = pki.ca_certificate(f"{family}-issuing")

    def ask() -> bytes:
        cert_id = {"hash_algorithm": {"algorithm": "sha256"},
                   "issuer_name_hash": issuing.subject.sha256,
                   "issuer_key_hash": issuing.public_key.sha256,
                   "serial_number": leaf.serial_number}
        request = asn1_ocsp.OCSPRequest({"tbs_request": {"request_list": [{"req_cert": cert_id}]}})
        return pki.ocsp_responder().respond(request.dump())

    validate(leaf, pki, ocsps=[ask()])
    pki.revoke(f"{family}-issuing", format(leaf.serial_number, "X"), "keyCompromise")
    with pytest.raises(RevokedError, match="compromised key"):
        validate(leaf, pki, ocsps=[ask()])
