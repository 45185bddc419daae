"""Certificate profiles (DESIGN.md, "PKI names") and subject names.

A profile says what a certificate may do; the CA, not the requester, decides it: extensions
requested in a CSR (other than subjectAltName) are refused rather than copied.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from asn1crypto import x509

from keys.errors import KeysError


class PkiError(KeysError):
    """A PKI request that cannot be honoured (bad CSR, unknown CA or profile, bad name...)."""


@dataclass(frozen=True)
class Profile:
    name: str
    key_usage: frozenset[str]
    extended_key_usage: tuple[str, ...] = ()
    eku_critical: bool = False
    ca: bool = False
    path_length: int | None = None
    ocsp_no_check: bool = False
    default_days: int = 365
    max_days: int = 3650
    extra: dict = field(default_factory=dict)


PROFILES: dict[str, Profile] = {
    "root-ca": Profile("root-ca", frozenset({"key_cert_sign", "crl_sign"}), ca=True, path_length=1,
                       default_days=7300, max_days=7300),
    "issuing-ca": Profile("issuing-ca", frozenset({"key_cert_sign", "crl_sign"}), ca=True, path_length=0,
                          default_days=3650, max_days=3650),
    # GB/T 38540 seals sign documents: the signer's commitment needs nonRepudiation.
    "seal": Profile("seal", frozenset({"digital_signature", "non_repudiation"}), default_days=1095),
    # The seal-making authority signs SESeal structures (GB/T 38540 §6).
    "seal-maker": Profile("seal-maker", frozenset({"digital_signature", "non_repudiation"}), default_days=1825),
    "login": Profile("login", frozenset({"digital_signature"}), ("client_auth",), default_days=730),
    # HTTPS for our own services (CA/Browser Forum caps TLS server certificates at 398 days).
    "tls-server": Profile("tls-server", frozenset({"digital_signature", "key_encipherment"}), ("server_auth",),
                          default_days=397, max_days=398),
    # RFC 3161 §2.3: the TSA certificate has exactly one EKU, id-kp-timeStamping, critical.
    "tsa": Profile("tsa", frozenset({"digital_signature", "non_repudiation"}), ("time_stamping",),
                   eku_critical=True, default_days=1825),
    # RFC 6960 §4.2.2.2: delegated responders carry id-kp-OCSPSigning; §4.2.2.2.1 id-pkix-ocsp-nocheck.
    "ocsp": Profile("ocsp", frozenset({"digital_signature"}), ("ocsp_signing",), ocsp_no_check=True,
                    default_days=365),
}
END_ENTITY_PROFILES = ("seal", "seal-maker", "login", "tsa", "ocsp", "tls-server")

_NAME_KEYS = {
    "CN": "common_name",
    "O": "organization_name",
    "OU": "organizational_unit_name",
    "C": "country_name",
    "ST": "state_or_province_name",
    "L": "locality_name",
    "SERIALNUMBER": "serial_number",  # 2.5.4.5: USCC of an organisation or a person's ID number
    "EMAILADDRESS": "email_address",
}


def profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise PkiError(f"unknown profile {name!r}; choose one of {', '.join(END_ENTITY_PROFILES)}") from None


def parse_subject(text: str) -> x509.Name:
    """``CN=天津市市场监督管理局,O=...,C=CN,serialNumber=11120000MB0000000X`` -> Name.

    Commas inside a value are written ``\\,``. Attributes are UTF8String except C (and
    serialNumber, which X.520 makes PrintableString).
    """
    parts, current, escaped = [], "", False
    for char in text:
        if escaped:
            current, escaped = current + char, False
        elif char == "\\":
            escaped = True
        elif char == ",":
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    values: dict[str, str] = {}
    for part in parts:
        key, sep, value = part.partition("=")
        key, value = key.strip().upper(), value.strip()
        if not sep or not value or key not in _NAME_KEYS:
            raise PkiError(f"bad subject component {part.strip()!r}; use e.g. CN=...,O=...,C=CN,serialNumber=...")
        values[_NAME_KEYS[key]] = value
    if "common_name" not in values:
        raise PkiError("a subject needs a CN")
    if "country_name" in values and len(values["country_name"]) != 2:
        raise PkiError("C must be a two-letter country code such as CN")
    return x509.Name.build(values)


def name_of(name: x509.Name) -> str:
    """A one-line RFC 4514-like rendering for listings and logs."""
    return name.human_friendly
