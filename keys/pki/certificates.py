"""Building and signing X.509 certificates (RFC 5280) with asn1crypto, and reading CSRs (RFC 2986)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import csr as asn1_csr
from asn1crypto import pem, x509
from asn1crypto.keys import PublicKeyInfo

from keys.asymmetric import PrivateKey, load_public_key
from keys.der import signed_bytes
from keys.errors import InvalidKey, InvalidSignature
from keys.pki.profiles import PkiError, Profile
from keys.pki.signing import signature_algorithm, verify_signature


def new_serial() -> int:
    """A positive serial of 127 random bits (RFC 5280 §4.1.2.2: at most 20 octets, unpredictable)."""
    return secrets.randbits(127) | (1 << 126)


def serial_hex(serial: int) -> str:
    return format(serial, "X")


def parse_serial(text: str) -> int:
    """Serials are accepted in hex, either case, with or without 0x or colons."""
    cleaned = text.strip().lower().removeprefix("0x").replace(":", "")
    try:
        value = int(cleaned, 16)
    except ValueError:
        raise PkiError(f"{text!r} is not a hexadecimal serial number") from None
    if value <= 0:
        raise PkiError("serial numbers are positive")
    return value


def key_identifier(public_key_info: PublicKeyInfo) -> bytes:
    """RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING contents."""
    return hashlib.sha1(public_key_info["public_key"].contents[1:], usedforsecurity=False).digest()


def public_key_algorithm(public_key_info: PublicKeyInfo) -> str:
    """sm2 | p256 | rsa2048 | rsa3072 for a SubjectPublicKeyInfo (InvalidKey otherwise)."""
    return load_public_key(public_key_info.dump()).algorithm


@dataclass(frozen=True)
class Issuer:
    """What a CA contributes to a certificate it signs."""

    name: x509.Name
    key: PrivateKey
    key_identifier: bytes
    ca_name: str  # e.g. sm2-issuing, used for the CRL and AIA URLs
    base_url: str | None  # $YITONG_ISSUER/pki; None for certificates without URLs (roots)


def _uri(url: str) -> x509.GeneralName:
    return x509.GeneralName(name="uniform_resource_identifier", value=url)


def _extensions(profile: Profile, subject_key_id: bytes, issuer: Issuer, self_signed: bool, san) -> list[dict]:
    extensions = [
        {"extn_id": "basic_constraints", "critical": True,
         "extn_value": {"ca": profile.ca, "path_len_constraint": profile.path_length if profile.ca else None}},
        {"extn_id": "key_usage", "critical": True, "extn_value": set(profile.key_usage)},
        {"extn_id": "key_identifier", "critical": False, "extn_value": subject_key_id},
    ]
    if not self_signed:
        extensions.append({"extn_id": "authority_key_identifier", "critical": False,
                           "extn_value": {"key_identifier": issuer.key_identifier}})
    if profile.extended_key_usage:
        extensions.append({"extn_id": "extended_key_usage", "critical": profile.eku_critical,
                           "extn_value": list(profile.extended_key_usage)})
    if profile.ocsp_no_check:
        extensions.append({"extn_id": "ocsp_no_check", "critical": False, "extn_value": None})
    if issuer.base_url and not self_signed:
        extensions.append({"extn_id": "crl_distribution_points", "critical": False, "extn_value": [
            {"distribution_point": {"full_name": [_uri(f"{issuer.base_url}/crl/{issuer.ca_name}.crl")]}}]})
        ca_url = f"{issuer.base_url}/ca/{issuer.ca_name}.crt"
        access = [{"access_method": "ca_issuers", "access_location": _uri(ca_url)}]
        if not profile.ocsp_no_check:  # a responder's own status is not asked of itself
            access.insert(0, {"access_method": "ocsp", "access_location": _uri(f"{issuer.base_url}/ocsp")})
        extensions.append({"extn_id": "authority_information_access", "critical": False, "extn_value": access})
    if san is not None:
        extensions.append({"extn_id": "subject_alt_name", "critical": False, "extn_value": san})
    return extensions


def build_certificate(
    *,
    subject: x509.Name,
    public_key_info: PublicKeyInfo,
    issuer: Issuer,
    profile: Profile,
    not_before: datetime,
    not_after: datetime,
    serial: int | None = None,
    subject_alt_name=None,
) -> x509.Certificate:
    """A certificate signed by ``issuer.key`` (self-signed when subject and key are the issuer's)."""
    if not_after <= not_before:
        raise PkiError("a certificate must end after it starts")
    subject_key_id = key_identifier(public_key_info)
    self_signed = subject_key_id == issuer.key_identifier
    algorithm = signature_algorithm(issuer.key.algorithm)
    tbs = x509.TbsCertificate({
        "version": "v3",
        "serial_number": serial or new_serial(),
        "signature": algorithm,
        "issuer": issuer.name,
        "validity": {"not_before": x509.Time({"utc_time": not_before} if not_before.year < 2050
                                             else {"general_time": not_before}),
                     "not_after": x509.Time({"utc_time": not_after} if not_after.year < 2050
                                            else {"general_time": not_after})},
        "subject": subject,
        "subject_public_key_info": public_key_info,
        "extensions": _extensions(profile, subject_key_id, issuer, self_signed, subject_alt_name),
    })
    signature = issuer.key.sign(tbs.dump())
    return x509.Certificate({"tbs_certificate": tbs, "signature_algorithm": algorithm,
                             "signature_value": signature})


def verify_certificate_signature(certificate: x509.Certificate, issuer_certificate: x509.Certificate) -> None:
    """Raise keys.InvalidSignature unless ``issuer_certificate``'s key signed ``certificate``."""
    verify_signature(issuer_certificate.public_key, certificate["signature_algorithm"],
                     certificate["signature_value"].native, signed_bytes(certificate["tbs_certificate"]))


# -- certificate signing requests ----------------------------------------------------------------
_ALLOWED_CSR_EXTENSIONS = {"subject_alt_name"}


@dataclass(frozen=True)
class CheckedRequest:
    subject: x509.Name
    public_key_info: PublicKeyInfo
    key_algorithm: str
    subject_alt_name: object | None


def load_csr(data: bytes) -> CheckedRequest:
    """Parse a PEM or DER PKCS#10 request, check its signature and its requested extensions.

    SM2 requests must be signed with the standard ID 1234567812345678 (GM/T 0015; with
    OpenSSL 3.0: ``openssl req -new -key k.pem -sm3 -sigopt distid:1234567812345678``).
    """
    try:
        der = pem.unarmor(data)[2] if pem.detect(data) else data
        request = asn1_csr.CertificationRequest.load(der, strict=True)
        info = request["certification_request_info"]
        public_key_info = info["subject_pk_info"]
        subject = info["subject"]
        algorithm = request["signature_algorithm"]
        signature = request["signature"].native
        info_der = info.dump()
        attributes = info["attributes"]
        attributes.native  # noqa: B018  (parse it all now, inside the try)
    except (ValueError, TypeError, KeyError) as exc:
        raise PkiError(f"not a PKCS#10 certificate request: {exc}") from None
    try:
        key_algorithm = public_key_algorithm(public_key_info)
    except InvalidKey as exc:
        raise PkiError(f"the request's key is not acceptable: {exc}") from None
    try:
        verify_signature(public_key_info, algorithm, signature, info_der)
    except InvalidSignature:
        hint = (" (SM2 requests must be signed with the ID 1234567812345678: "
                "openssl req ... -sigopt distid:1234567812345678)") if key_algorithm == "sm2" else ""
        raise PkiError(f"the request's signature does not verify{hint}") from None
    san = None
    for attribute in attributes:
        kind = attribute["type"].native
        if kind != "extension_request":
            raise PkiError(f"the request carries an unsupported attribute {kind!r}")
        for extensions in attribute["values"]:
            for extension in extensions:
                name = extension["extn_id"].native
                if name not in _ALLOWED_CSR_EXTENSIONS:
                    raise PkiError(f"the request asks for extension {name!r}; the profile decides "
                                   "key usage and constraints, only subjectAltName may be requested")
                san = extension["extn_value"].parsed
    if not subject.native and san is None:
        raise PkiError("the request has neither a subject nor a subjectAltName")
    return CheckedRequest(subject, public_key_info, key_algorithm, san)


def certificate_pem(certificate: x509.Certificate) -> bytes:
    return pem.armor("CERTIFICATE", certificate.dump())


def load_certificate(data: bytes) -> x509.Certificate:
    try:
        der = pem.unarmor(data)[2] if pem.detect(data) else data
        certificate = x509.Certificate.load(der, strict=True)
        certificate.native  # noqa: B018  (parse it all now)
    except (ValueError, TypeError, KeyError) as exc:
        raise PkiError(f"not an X.509 certificate: {exc}") from None
    return certificate
