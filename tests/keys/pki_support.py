"""Shared helpers for PKI tests: a Pki on the test storage, OpenSSL-made CSRs, validation."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import datetime
from pathlib import Path

from asn1crypto import x509
from pyhanko_certvalidator import CertificateValidator, ValidationContext

from keys.keystore import Keystore, MasterKey
from keys.pki.authority import Pki
from keys.pki.certificates import certificate_pem
from keys.pki.signing import YitongSignatureValidator

DISTID = "distid:1234567812345678"
PKI_URL = "http://127.0.0.1:8000/pki"


def make_pki(storage, tmp_path: Path) -> Pki:
    """A PKI with every CA (``Pki.init``) on the test's storage: a copy of the one the session made."""
    def initialised(snapshot, directory: Path) -> MasterKey:
        master = MasterKey.generate()
        Pki(snapshot.engine, Keystore.open(snapshot.engine, master), PKI_URL, directory / "pki").init()
        return master

    master = storage.restore(("pki",), initialised, tmp_path)
    return Pki(storage.engine, Keystore.open(storage.engine, master), PKI_URL, tmp_path / "pki")


def openssl_csr(openssl: str, tmp_path: Path, algorithm: str, subject: str = "/CN=Test Org/O=Test Org/C=CN",
                extra: list[str] = ()) -> bytes:
    key = tmp_path / f"{algorithm}.key"
    if algorithm == "sm2":
        subprocess.run([openssl, "genpkey", "-algorithm", "SM2", "-out", str(key)], check=True)
        sign = ["-sm3", "-sigopt", DISTID]
    elif algorithm == "p256":
        subprocess.run([openssl, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-out", str(key)], check=True)
        sign = ["-sha256"]
    else:
        subprocess.run([openssl, "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                        "-out", str(key)], check=True)
        sign = ["-sha256"]
    out = subprocess.run([openssl, "req", "-new", "-key", str(key), *sign, "-subj", subject, *extra],
                         capture_output=True, check=True)
    return out.stdout


def write_pem(path: Path, *certificates: x509.Certificate) -> Path:
    path.write_bytes(b"".join(certificate_pem(c) for c in certificates))
    return path


def validate(leaf: x509.Certificate, pki: Pki, *, crls=(), ocsps=(), moment: datetime | None = None,
             revocation_mode: str = "hard-fail"):
    """pyhanko-certvalidator with our SM2 validator, trust = our roots, revocation hard-fail."""
    family = "sm2" if leaf["signature_algorithm"]["algorithm"].native == "sm2_sm3" else "p256"
    context = ValidationContext(
        trust_roots=pki.roots(),
        other_certs=[pki.ca_certificate(f"{family}-issuing")],
        # Hard-fail needs the issuing CA's own status too, which the root's CRL gives.
        crls=[*crls, pki.crl(f"{family}-root")] if revocation_mode == "hard-fail" else list(crls),
        ocsps=list(ocsps),
        revocation_mode=revocation_mode,
        allow_fetching=False,
        moment=moment,
        signature_validator=YitongSignatureValidator(),
    )
    validator = CertificateValidator(leaf, validation_context=context)
    return asyncio.run(validator.async_validate_usage(set()))
