"""Certificate login (数字证书登录, ``urn:yitong:loa:4``): challenge–response with a CA certificate.

The sign-in page shows a challenge; the person's certificate key signs it (a USB-key driver in
real life; ``yitong cert-login sign --key K --cert C --challenge X`` stands in for it) and the page
takes the answer back. The server then checks, in this order, each failure with its own reason:

1. the answer's form: ``<base64url(certificate DER)>.<base64url(signature)>``;
2. the signature over :func:`challenge_message` with the certificate's key — SM2-with-SM3 with
   the default user ID (GM/T 0009), ECDSA P-256 with SHA-256, or RSA PKCS#1 v1.5 with SHA-256;
3. the chain to the configured anchors (SM2 and ECDSA/RSA CAs; pyhanko-certvalidator with our
   SM2 signature validator), validity now, key usage ``digitalSignature``, and revocation
   (hard-fail: our own CAs' current CRLs in-process; other CAs' CRL/OCSP only when fetching is
   allowed — otherwise their certificates cannot be checked and are refused);
4. the subject's ``serialNumber`` (2.5.4.5, DESIGN.md "PKI names"): a resident ID number (GB 11643)
   bound to an account by real name (its keyed hash; nothing is decrypted), or a unified social
   credit code (GB 32100) of an organisation registered here.

A person's certificate starts a session at loa:4. An organisation's certificate (法人证书, the
enterprise's USB key) never does: it says nothing about *which person* holds the key, and a key
handed to a clerk must not sign them in as the legal representative. It proves the organisation
for a person who is signed in as themselves and may already act for it (its legal
representative or an active agent, idp/agents/store.py): the organisation is then marked proven by
certificate in that sign-in (idp/certlogin/routes.py), and the ``org`` claim of tokens acting for
it says ``"acr": "urn:yitong:loa:4"`` instead of the organisation's registered level. Who may act
for an organisation stays decided by its legal representative alone; holding the key grants nothing.

The challenge names the issuer, so the person (or driver) sees which site asks, and it is
single-use and short-lived. Mutual TLS terminated at a reverse proxy reaches the same checks
(2 is then the TLS handshake's own proof) with the certificate in a header accepted only from the
configured proxy addresses.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import pem, x509
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import (
    ExpiredError,
    InsufficientRevinfoError,
    InvalidCertificateError,
    NotYetValidError,
    PathBuildingError,
    RevokedError,
    ValidationError,
)

from idp.errors import IdpError
from idp.identity import IdentifierError, Identities, Organisations, check_resident_id, check_uscc, mask_id_number
from keys.asymmetric import load_public_key
from keys.clock import utcnow
from keys.errors import InvalidKey, InvalidSignature
from keys.pki.signing import YitongSignatureValidator

MESSAGE_PREFIX = "yitong-cert-login/1"
CHALLENGE_SECONDS = 300
AMR = ["pop"]  # RFC 8176: proof of possession of a key (hardware or software is not known here)


class CertLoginError(IdpError):
    """A refused certificate login: ``code`` for audit, ``zh``/``en`` for the person."""

    def __init__(self, code: str, zh: str, en: str) -> None:
        super().__init__(en)
        self.code, self.zh, self.en = code, zh, en


@dataclass(frozen=True)
class CertLoginConfig:
    """What the composition root (yitong/app.py) decides: anchors, revocation, mutual-TLS proxies."""

    trust: Callable[[], tuple[list[x509.Certificate], list[x509.Certificate]]]
    crls: Callable[[], list[bytes]]
    allow_fetching: bool = False
    proxies: tuple[str, ...] = ()
    header: str = "X-SSL-Client-Cert"


@dataclass(frozen=True)
class CertLoginResult:
    """A certificate that passed every check: a person's (``sub`` set) or an organisation's
    (``uscc`` and ``organisation_name`` set, ``sub`` None)."""

    sub: str | None
    id_number_masked: str | None
    key_algorithm: str
    subject: str
    serial_hex: str
    uscc: str | None = None
    organisation_name: str | None = None

    @property
    def is_organisation(self) -> bool:
        return self.uscc is not None


def new_challenge(issuer: str) -> str:
    return f"{issuer}#{secrets.token_urlsafe(24)}"


def challenge_message(challenge: str) -> bytes:
    """The bytes the certificate key signs: a fixed prefix, so no other protocol's data fits."""
    return f"{MESSAGE_PREFIX}|{challenge}".encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_answer(certificate_der: bytes, signature: bytes) -> str:
    return f"{_b64(certificate_der)}.{_b64(signature)}"


def sign_challenge(key, certificate_der: bytes, challenge: str) -> str:
    """What the USB-key driver does: sign the challenge with the certificate's key."""
    return encode_answer(certificate_der, key.sign(challenge_message(challenge)))


def split_bundle(data: bytes) -> tuple[list[x509.Certificate], list[x509.Certificate]]:
    """A PEM bundle of CA certificates as (anchors: the self-signed ones, intermediates: the rest)."""
    anchors, intermediates = [], []
    for _, _, der in pem.unarmor(data, multiple=True):
        certificate = x509.Certificate.load(der)
        (anchors if certificate.self_issued else intermediates).append(certificate)
    return anchors, intermediates


def load_certificate(data: bytes) -> x509.Certificate:
    """A certificate from DER or PEM bytes (CertLoginError when it is neither)."""
    try:
        if pem.detect(data):
            _, _, data = pem.unarmor(data)
        certificate = x509.Certificate.load(data, strict=True)
        certificate.native  # noqa: B018  (parses every field now, not later in the middle of a check)
    except (ValueError, TypeError, KeyError) as exc:
        raise CertLoginError("bad_certificate", "证书无法解析", f"the certificate cannot be read: {exc}") from None
    return certificate


def decode_answer(answer: str) -> tuple[x509.Certificate, bytes]:
    parts = answer.strip().split(".")
    if len(parts) != 2 or not all(parts) or len(answer) > 16384:
        raise CertLoginError("bad_answer", "签名结果格式不正确", "the answer is not <certificate>.<signature>")
    try:
        certificate_der, signature = _unb64(parts[0]), _unb64(parts[1])
    except (binascii.Error, ValueError):
        raise CertLoginError("bad_answer", "签名结果格式不正确", "the answer is not base64url") from None
    return load_certificate(certificate_der), signature


def _subject_number(certificate: x509.Certificate) -> tuple[str, str]:
    """("person", resident ID number) or ("organisation", USCC) from the subject's serialNumber."""
    values = [value for rdn in certificate.subject.chosen for attr in rdn
              if attr["type"].native == "serial_number" for value in [attr["value"].native]]
    if len(values) != 1 or not isinstance(values[0], str):
        raise CertLoginError("no_subject_number", "证书主题中没有唯一的身份证号码或统一社会信用代码（serialNumber）",
                             "the certificate's subject has no single serialNumber with an ID number or a "
                             "unified social credit code")
    try:
        return "person", check_resident_id(values[0]).number
    except IdentifierError:
        pass
    try:
        # The CA vouched for the code: a GB 32100 checksum warning changes nothing here, the
        # organisation must simply be registered under exactly this code.
        return "organisation", check_uscc(values[0]).code
    except IdentifierError:
        raise CertLoginError("bad_subject_number",
                             "证书主题的 serialNumber 既不是居民身份证号码，也不是统一社会信用代码",
                             "the subject serialNumber is neither a resident ID number nor a unified social "
                             "credit code") from None


class CertificateLogin:
    """The checks of one deployment: its anchors, revocation sources and account mapping."""

    def __init__(self, *, trust: Callable[[], tuple[list[x509.Certificate], list[x509.Certificate]]],
                 crls: Callable[[], list[bytes]] = list, allow_fetching: bool = False,
                 identities: Identities, organisations: Organisations) -> None:
        """``trust()`` gives (anchors, intermediates) and ``crls()`` current CRLs, read per login."""
        self._trust = trust
        self._crls = crls
        self._allow_fetching = allow_fetching
        self._identities = identities
        self._organisations = organisations

    def verify_possession(self, certificate: x509.Certificate, signature: bytes, challenge: str) -> str:
        """Step 2: the signature over the challenge; returns the key algorithm."""
        try:
            public_key = load_public_key(certificate.public_key.dump())
        except (InvalidKey, ValueError) as exc:
            raise CertLoginError("unsupported_key", "不支持该证书的密钥类型（支持 SM2、P-256、RSA）",
                                 f"unsupported certificate key: {exc}") from None
        try:
            public_key.verify(signature, challenge_message(challenge))
        except InvalidSignature:
            raise CertLoginError("bad_signature", "签名验证失败：签名不是此证书的密钥对本次挑战做出的",
                                 "the signature was not made over this challenge by this certificate's key") from None
        return public_key.algorithm

    def validate_chain(self, certificate: x509.Certificate, moment: datetime | None = None) -> None:
        """Step 3: chain, validity, key usage and revocation (hard-fail)."""
        anchors, intermediates = self._trust()
        if certificate.self_issued:  # an end-entity certificate vouching for itself chains to nothing
            raise CertLoginError("untrusted", "证书不是由本平台信任的证书机构签发",
                                 "the certificate is self-signed, not issued by a CA this service trusts")
        when = moment or utcnow()
        validity = certificate["tbs_certificate"]["validity"]
        if not validity["not_before"].native <= when <= validity["not_after"].native:
            raise CertLoginError("expired", "证书不在有效期内",
                                 f"the certificate is valid from {validity['not_before'].native:%Y-%m-%d %H:%M} "
                                 f"to {validity['not_after'].native:%Y-%m-%d %H:%M} UTC, not now")
        context = ValidationContext(
            trust_roots=anchors, other_certs=intermediates, crls=self._crls(),
            allow_fetching=self._allow_fetching, revocation_mode="hard-fail", moment=moment,
            signature_validator=YitongSignatureValidator())
        validator = CertificateValidator(certificate, validation_context=context)
        try:
            asyncio.run(validator.async_validate_usage({"digital_signature"}))
        except PathBuildingError:
            raise CertLoginError("untrusted", "证书不是由本平台信任的证书机构签发",
                                 "the certificate does not chain to a CA this service trusts") from None
        except RevokedError as exc:
            raise CertLoginError("revoked", "证书已被吊销或冻结",
                                 f"the certificate is revoked or on hold: {exc}") from None
        except (ExpiredError, NotYetValidError) as exc:
            raise CertLoginError("expired", "证书不在有效期内",
                                 f"the certificate is outside its validity period: {exc}") from None
        except InsufficientRevinfoError as exc:
            raise CertLoginError("revocation_unknown", "无法确认证书的吊销状态，暂不能用于登录",
                                 f"the certificate's revocation status cannot be established: {exc}") from None
        except InvalidCertificateError as exc:  # e.g. no digitalSignature key usage
            raise CertLoginError("unusable", "证书不能用于登录（用途不符）",
                                 f"the certificate may not be used to sign in: {exc}") from None
        except ValidationError as exc:
            raise CertLoginError("invalid_chain", "证书链验证失败",
                                 f"the certificate chain does not validate: {exc}") from None

    def _account_of(self, number: str) -> tuple[str, str]:
        """Step 4 for a person: (sub, masked ID number) of the account the ID number is bound to."""
        sub = self._identities.sub_for_id_number(number)
        if sub is None:
            raise CertLoginError("not_linked", "此证书的身份证号码未绑定任何已实名的账号，请先用密码登录并完成实名认证",
                                 "no real-name account has this certificate's ID number: sign in with your password "
                                 "and complete real name first")
        return sub, mask_id_number(number)

    def login(self, certificate: x509.Certificate, signature: bytes | None, challenge: str | None,
              moment: datetime | None = None) -> CertLoginResult:
        """All checks; ``signature``/``challenge`` None only when TLS proved possession (mutual TLS)."""
        if signature is None:
            algorithm = load_public_key(certificate.public_key.dump()).algorithm
        else:
            algorithm = self.verify_possession(certificate, signature, challenge or "")
        self.validate_chain(certificate, moment)
        subject, serial = certificate.subject.human_friendly, format(certificate.serial_number, "x")
        kind, number = _subject_number(certificate)
        if kind == "organisation":
            organisation = self._organisations.get(number)
            if organisation is None:
                raise CertLoginError("organisation_not_registered",
                                     "此单位证书的统一社会信用代码未在本平台登记，请法定代表人先在“我的单位”中登记单位",
                                     "no organisation with this certificate's unified social credit code is "
                                     "registered here: its legal representative registers it first")
            return CertLoginResult(None, None, algorithm, subject, serial, uscc=organisation.uscc,
                                   organisation_name=organisation.name)
        sub, masked = self._account_of(number)
        return CertLoginResult(sub, masked, algorithm, subject, serial)
