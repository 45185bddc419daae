"""An RFC 3161 time-stamp authority as pure logic: a DER TimeStampReq in, a DER TimeStampResp out.

What is followed, section by section:

* RFC 3161 §2.4.1 (TimeStampReq): version 1 only; the messageImprint hash must be one we accept
  (SHA-256/384/512, SM3) and of its algorithm's length; a reqPolicy must be ours; extensions are
  refused (we recognise none); the certificates go in the token only when certReq is true.
* RFC 3161 §2.4.2 (TimeStampResp / TSTInfo): a rejection carries a statusString and a failInfo;
  a granted token is a CMS SignedData (RFC 5652) whose eContentType is id-ct-TSTInfo, with the
  nonce echoed, genTime in whole UTC seconds, accuracy, ordering false and tsa = our subject.
* RFC 3161 §2.3 and §2.4.2: the TSA certificate carries exactly one, critical, EKU:
  id-kp-timeStamping, and the signer certificate is identified in a signed attribute.
* RFC 5816 §2.2: that attribute may be ESS signingCertificateV2, whose ESSCertIDv2 (RFC 5035 §3)
  hashes the certificate with SHA-256 (the DEFAULT, so the algorithm is omitted in DER); we issue
  and require V2 (``openssl ts -verify`` checks it).
* RFC 5652 §5.3-§5.4 and §11: signed attributes contentType, messageDigest and signingTime; the
  signature covers their DER as a SET OF, not the [0] IMPLICIT encoding carried in SignerInfo.

The HTTP face (``application/timestamp-query`` -> ``application/timestamp-reply``) lives in
yitong/; nothing here knows about requests, databases or configuration.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import algos, cms, core, tsp, x509
from cryptography.exceptions import UnsupportedAlgorithm

from keys.asymmetric import PrivateKey, load_public_key
from keys.clock import utcnow
from keys.digests import digest
from keys.errors import InvalidKey, InvalidSignature
from keys.pki.certificates import new_serial, public_key_algorithm
from keys.pki.profiles import PkiError
from keys.pki.signing import (
    SIGNATURE_ALGORITHMS,
    digest_algorithm,
    is_sm2_signature,
    signature_algorithm,
    verify_signature,
)

# Our TSA policy. An OID under the UUID arc 2.25 (ITU-T X.667 / ISO/IEC 9834-8) needs no
# registration: 2.25.<the UUID as one integer>. This one is UUID 08201bfd-befc-442a-80c6-fb006f617d4a.
TSA_POLICY_OID = "2.25.10800545194643979248884206010122730826"

# Hash algorithms accepted in a messageImprint (and as a SignerInfo digest), with their lengths.
# MD5 and SHA-1 are refused: a collision lets one token vouch for two documents.
DIGEST_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64, "sm3": 32}

_log = logging.getLogger(__name__)

# Our key algorithm -> the signature family (asn1crypto's signature_algo, or "sm2") it can verify.
_SIGNATURE_FAMILIES = {"sm2": "sm2", "p256": "ecdsa", "rsa2048": "rsassa_pkcs1v15", "rsa3072": "rsassa_pkcs1v15"}


class InvalidTimestamp(InvalidSignature):
    """A time-stamp token or response that is malformed, was not granted, or does not verify."""


class TimeStampResp(tsp.TimeStampResp):
    """RFC 3161 TimeStampResp with the token OPTIONAL, as the RFC has it.

    asn1crypto 1.5 declares timeStampToken mandatory, so it can neither build nor parse a
    rejection; use this class for both.
    """

    _fields = [
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


@dataclass(frozen=True)
class TimestampInfo:
    """What a verified token says (TSTInfo, RFC 3161 §2.4.2)."""

    gen_time: datetime
    serial: int
    policy: str  # dotted OID
    hash_algorithm: str  # sha256 | sha384 | sha512 | sm3
    imprint: bytes
    nonce: int | None


def time_stamping_problem(certificate: x509.Certificate) -> str | None:
    """Why ``certificate`` cannot sign time-stamps (RFC 3161 §2.3), or None if it can."""
    if certificate.extended_key_usage_value is None:
        return "the certificate has no extended key usage; a TSA certificate needs id-kp-timeStamping"
    if certificate.extended_key_usage_value.native != ["time_stamping"]:
        return "a TSA certificate's extended key usage must be id-kp-timeStamping alone"
    if "extended_key_usage" not in certificate.critical_extensions:
        return "a TSA certificate's extended key usage extension must be critical"
    return None


class TsaRejected(PkiError):
    """A request we answer with status rejection (RFC 3161 §2.4.2 PKIFailureInfo); ``respond`` turns
    it into that answer, so it never leaves the TSA."""

    def __init__(self, fail_info: str, text: str) -> None:
        super().__init__(text)
        self.fail_info = fail_info
        self.text = text


def _rejection(fail_info: str, text: str) -> bytes:
    status = {"status": "rejection", "status_string": [text], "fail_info": {fail_info}}
    return TimeStampResp({"status": status}).dump()


def _as_bytes(data: bytes) -> bytes:
    # asn1crypto takes bytes only; bytes(x) of an int would allocate x zero bytes instead of failing.
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    if not isinstance(data, bytes):
        raise TypeError(f"expected DER bytes, not {type(data).__name__}")
    return data


def _utc_or_generalized(moment: datetime) -> cms.Time:
    # RFC 5652 §11.3: signingTime is UTCTime from 1950 to 2049, GeneralizedTime otherwise.
    return cms.Time({"utc_time": moment} if 1950 <= moment.year < 2050 else {"generalized_time": moment})


class TimeStampAuthority:
    """Answers TimeStampReqs with tokens signed by ``key`` under ``certificate``."""

    def __init__(
        self,
        key: PrivateKey,
        certificate: x509.Certificate,
        chain: Iterable[x509.Certificate] = (),
        policy_oid: str = TSA_POLICY_OID,
        accuracy_seconds: int = 1,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if key.algorithm not in SIGNATURE_ALGORITHMS:
            raise PkiError(f"a TSA cannot sign with a {key.algorithm!r} key")
        # Misconfiguration is caught here, at start-up, not as tokens nobody can verify.
        try:
            certified = load_public_key(certificate.public_key.dump()).public_bytes_der()
        except InvalidKey as exc:
            raise PkiError(f"the TSA certificate's key is not usable: {exc}") from None
        if certified != key.public_key().public_bytes_der():
            raise PkiError("the TSA key does not match the TSA certificate")
        problem = time_stamping_problem(certificate)
        if problem:
            raise PkiError(problem)
        if not isinstance(accuracy_seconds, int) or accuracy_seconds < 0:
            raise PkiError("accuracy_seconds is a whole number of seconds, 0 or more")
        self._key = key
        self._certificate = certificate
        self._encode_fixed_parts(certificate, [c for c in chain if c.dump() != certificate.dump()])
        self._policy = core.ObjectIdentifier(policy_oid).dotted  # raises on a malformed OID
        self._accuracy = accuracy_seconds
        self._clock = clock

    def _encode_fixed_parts(self, certificate: x509.Certificate, chain: list[x509.Certificate]) -> None:
        """Encode once what every token repeats; asn1crypto would re-encode it per response."""
        self._tsa_name_der = x509.GeneralName(name="directory_name", value=certificate.subject).dump()
        self._sid_der = cms.SignerIdentifier({"issuer_and_serial_number": {
            "issuer": certificate.issuer, "serial_number": certificate.serial_number}}).dump()
        self._signing_certificate_der = tsp.SigningCertificateV2({"certs": [{
            # hash_algorithm stays at its DEFAULT, SHA-256, which DER encodes by omission.
            "cert_hash": hashlib.sha256(certificate.dump()).digest(),
            "issuer_serial": {"issuer": [x509.GeneralName(name="directory_name", value=certificate.issuer)],
                              "serial_number": certificate.serial_number},
        }]}).dump()
        self._certificates_der = cms.CertificateSet([certificate, *chain]).dump()
        self._certificates = (certificate, *chain)

    @property
    def policy(self) -> str:
        return self._policy

    @property
    def certificate(self) -> x509.Certificate:
        return self._certificate

    @property
    def certificates(self) -> tuple[x509.Certificate, ...]:
        """The certificates a token carries when certReq is set: ours, then the chain given."""
        return self._certificates

    def respond(self, query_der: bytes) -> bytes:
        """Always returns a DER TimeStampResp; never raises for bad input."""
        try:
            request = self._check_request(query_der)
            return self._grant(request).dump()
        except TsaRejected as rejected:
            return _rejection(rejected.fail_info, rejected.text)
        except Exception:
            # A requester learns nothing of our internals; the operator gets the traceback.
            _log.exception("the TSA failed while answering a time-stamp request")
            return _rejection("system_failure", "the time-stamp authority failed; try again later")

    def _check_request(self, query_der: bytes) -> tsp.TimeStampReq:
        try:
            request = tsp.TimeStampReq.load(_as_bytes(query_der), strict=True)
            request.native  # noqa: B018  (asn1crypto parses lazily: find every error now)
        except (ValueError, TypeError, KeyError, OverflowError):
            raise TsaRejected("bad_data_format", "the request is not a DER TimeStampReq (RFC 3161 §2.4.1)") from None
        if request["version"].native != "v1":
            raise TsaRejected("bad_data_format", "only TimeStampReq version 1 exists (RFC 3161 §2.4.1)")
        imprint = request["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"].native
        if algorithm not in DIGEST_SIZES:
            raise TsaRejected("bad_alg", f"hash algorithm {algorithm} is not accepted; use {', '.join(DIGEST_SIZES)}")
        if len(imprint["hashed_message"].native) != DIGEST_SIZES[algorithm]:
            raise TsaRejected("bad_data_format", f"the {algorithm} message imprint must be "
                                               f"{DIGEST_SIZES[algorithm]} bytes long")
        if request["req_policy"].native is not None and request["req_policy"].dotted != self._policy:
            raise TsaRejected("unaccepted_policy", f"this TSA issues tokens under policy {self._policy} only")
        if request["extensions"].native:
            # §2.4.1: an extension the TSA does not recognise, critical or not, must be refused.
            raise TsaRejected("unaccepted_extensions", "this TSA supports no request extensions")
        return request

    def _now(self) -> datetime:
        try:
            now = self._clock()
            if now.tzinfo is None:
                raise ValueError("the clock returned a naive datetime")
        except Exception as exc:
            _log.exception("the TSA clock failed")
            raise TsaRejected("time_not_available", "the time source is not available") from exc
        # Whole seconds: accuracy is stated in seconds, so sub-second digits would claim too much.
        return now.astimezone(UTC).replace(microsecond=0)

    def _grant(self, request: tsp.TimeStampReq) -> TimeStampResp:
        gen_time = self._now()
        tst_info = self._tst_info(request, gen_time)
        token = self._token(tst_info, gen_time, include_certificates=bool(request["cert_req"].native))
        return TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token})

    def _tst_info(self, request: tsp.TimeStampReq, gen_time: datetime) -> tsp.TSTInfo:
        info = {
            "version": "v1",
            "policy": self._policy,
            # Re-encoded in DER, but otherwise exactly the requester's imprint (§2.4.2).
            "message_imprint": tsp.MessageImprint.load(request["message_imprint"].dump(force=True)),
            "serial_number": new_serial(),  # 127 random bits: unique without a counter to keep
            "gen_time": gen_time,
            "ordering": False,
            "tsa": x509.GeneralName.load(self._tsa_name_der),
        }
        if self._accuracy:
            info["accuracy"] = {"seconds": self._accuracy}
        if request["nonce"].native is not None:
            info["nonce"] = request["nonce"].native
        return tsp.TSTInfo(info)

    def _signed_attributes(self, tst_der: bytes, digest_name: str, gen_time: datetime) -> cms.CMSAttributes:
        # asn1crypto sorts SET OF members on encoding, as DER requires: OpenSSL re-encodes the
        # attributes before checking the signature, so any other order would not verify there.
        return cms.CMSAttributes([
            {"type": "content_type", "values": ["tst_info"]},
            {"type": "message_digest", "values": [digest(digest_name, tst_der)]},
            {"type": "signing_time", "values": [_utc_or_generalized(gen_time)]},
            {"type": "signing_certificate_v2",
             "values": [tsp.SigningCertificateV2.load(self._signing_certificate_der)]},
        ])

    def _token(self, tst_info: tsp.TSTInfo, gen_time: datetime, include_certificates: bool) -> cms.ContentInfo:
        digest_name = digest_algorithm(self._key.algorithm)
        attributes = self._signed_attributes(tst_info.dump(), digest_name, gen_time)
        signer = cms.SignerInfo({
            "version": "v1",  # RFC 5652 §5.3: v1 with issuerAndSerialNumber
            "sid": cms.SignerIdentifier.load(self._sid_der),
            "digest_algorithm": {"algorithm": digest_name},
            "signed_attrs": attributes,
            "signature_algorithm": signature_algorithm(self._key.algorithm),
            # Signed as a universal SET OF; asn1crypto re-tags the same contents [0] above.
            "signature": self._key.sign(attributes.dump()),
        })
        signed_data = {
            "version": "v3",  # RFC 5652 §5.1: eContentType other than id-data
            "digest_algorithms": [{"algorithm": digest_name}],
            "encap_content_info": {"content_type": "tst_info", "content": tst_info},
            "signer_infos": [signer],
        }
        if include_certificates:
            signed_data["certificates"] = cms.CertificateSet.load(self._certificates_der)
        return cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData(signed_data)})


# -- verification ---------------------------------------------------------------------------------
def _load_token(der: bytes) -> cms.ContentInfo:
    """The token of a granted TimeStampResp, or ``der`` itself read as a bare ContentInfo."""
    try:
        response = TimeStampResp.load(der, strict=True)
        status = response["status"].native
    except (ValueError, TypeError):
        response = None  # not a TimeStampResp: perhaps a bare token
    if response is None:
        return cms.ContentInfo.load(der, strict=True)
    if status["status"] not in ("granted", "granted_with_mods"):
        reason = "; ".join(status["status_string"] or []) or ", ".join(sorted(status["fail_info"] or []))
        raise InvalidTimestamp(f"the TSA did not grant the request: {status['status']} ({reason})")
    if isinstance(response["time_stamp_token"], core.Void):
        raise InvalidTimestamp("the response is granted but carries no time-stamp token")
    return response["time_stamp_token"]


@dataclass(frozen=True)
class _Parts:
    """The pieces of a token verify_token checks, the signed bytes exactly as received."""

    signer: cms.SignerInfo
    attributes: cms.CMSAttributes
    attributes_der: bytes  # the signed attributes re-tagged as SET OF: what the signature covers
    tst_der: bytes  # the eContent octets: what messageDigest covers
    tst_info: tsp.TSTInfo


def _parse(der: bytes) -> _Parts:
    try:
        token = _load_token(_as_bytes(der))
        if token["content_type"].native != "signed_data":
            raise InvalidTimestamp("a time-stamp token is a CMS SignedData")
        signed_data = token["content"]
        encapsulated = signed_data["encap_content_info"]
        if encapsulated["content_type"].native != "tst_info":
            raise InvalidTimestamp("the token does not encapsulate a TSTInfo (id-ct-TSTInfo)")
        signers = signed_data["signer_infos"]
        if len(signers) != 1:
            raise InvalidTimestamp(f"a time-stamp token has exactly one signer, not {len(signers)} (RFC 3161 §2.4.2)")
        signer = signers[0]
        # Take the signed bytes before anything is decoded: asn1crypto normalises some values
        # while decoding (NULL digest parameters) and would then re-encode what it hands back.
        content, signed_attributes = encapsulated["content"], signer["signed_attrs"]
        if isinstance(content, core.Void):
            raise InvalidTimestamp("the token's TSTInfo is missing (detached content)")
        if isinstance(signed_attributes, core.Void):
            raise InvalidTimestamp("the token has no signed attributes (RFC 3161 §2.4.2 requires them)")
        tst_der, attributes_der = bytes(content), b"\x31" + signed_attributes.dump()[1:]  # RFC 5652 §5.4
        # Decoded from copies, in full, so that every format error surfaces here. The
        # certificates are not decoded at all: the caller supplies the TSA certificate.
        tst_info = tsp.TSTInfo.load(tst_der, strict=True)
        attributes = cms.CMSAttributes.load(attributes_der, strict=True)
        for value in (tst_info, attributes, signer):
            value.native  # noqa: B018
        return _Parts(signer, attributes, attributes_der, tst_der, tst_info)
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        raise InvalidTimestamp(f"not a time-stamp token or response: {exc}") from None


def _attribute(attributes: cms.CMSAttributes, name: str):
    values = [a["values"] for a in attributes if a["type"].native == name]
    if len(values) != 1 or len(values[0]) != 1:
        raise InvalidTimestamp(f"the signed attributes must hold exactly one {name}")
    return values[0][0]


def _check_signer(signer: cms.SignerInfo, certificate: x509.Certificate) -> None:
    sid = signer["sid"]
    if sid.name == "issuer_and_serial_number":
        ours = (sid.chosen["issuer"] == certificate.issuer
                and sid.chosen["serial_number"].native == certificate.serial_number)
    else:
        ours = sid.chosen.native == certificate.key_identifier
    if not ours:
        raise InvalidTimestamp("the token was signed under another certificate than the TSA certificate given")
    problem = time_stamping_problem(certificate)
    if problem:
        raise InvalidTimestamp(problem)


def _check_signed_attributes(parts: _Parts, certificate: x509.Certificate) -> None:
    attributes = parts.attributes
    if _attribute(attributes, "content_type").native != "tst_info":
        raise InvalidTimestamp("the signed contentType attribute is not id-ct-TSTInfo")
    digest_name = parts.signer["digest_algorithm"]["algorithm"].native
    if digest_name not in DIGEST_SIZES:
        raise InvalidTimestamp(f"the token's digest algorithm {digest_name} is not accepted")
    if not hmac.compare_digest(_attribute(attributes, "message_digest").native, digest(digest_name, parts.tst_der)):
        raise InvalidTimestamp("the TSTInfo does not match the signed messageDigest: the token was altered")
    cert_ids = _attribute(attributes, "signing_certificate_v2")["certs"]
    if len(cert_ids) == 0:
        raise InvalidTimestamp("the signingCertificateV2 attribute names no certificate")
    # RFC 5035 §3: the first ESSCertIDv2 identifies the signer's certificate.
    hash_name = cert_ids[0]["hash_algorithm"]["algorithm"].native
    if hash_name not in DIGEST_SIZES:
        raise InvalidTimestamp(f"the signingCertificateV2 hash {hash_name} is not accepted")
    if not hmac.compare_digest(cert_ids[0]["cert_hash"].native, digest(hash_name, certificate.dump())):
        raise InvalidTimestamp("signingCertificateV2 names another certificate than the TSA certificate given")


def _signature_algorithm(signer: cms.SignerInfo, certificate: x509.Certificate) -> algos.SignedDigestAlgorithm:
    """The SignerInfo's signature algorithm, checked against the certificate's key type."""
    algorithm = signer["signature_algorithm"]
    try:
        key_algorithm = public_key_algorithm(certificate.public_key)
    except InvalidKey as exc:
        raise InvalidTimestamp(f"the TSA certificate's key is not supported: {exc}") from None
    if is_sm2_signature(algorithm):
        family = "sm2"
    else:
        try:
            family = algorithm.signature_algo  # rsassa_pkcs1v15 | ecdsa | ...
        except ValueError:
            family = algorithm["algorithm"].dotted
    # pyhanko-certvalidator asserts the key type; a mismatch must be a clean refusal instead.
    if family != _SIGNATURE_FAMILIES[key_algorithm]:
        raise InvalidTimestamp(f"the token's signature algorithm {algorithm['algorithm'].native} "
                               f"does not suit the certificate's {key_algorithm} key")
    # CMS producers (OpenSSL among them) often write the bare rsaEncryption in SignerInfo; the
    # hash is then the SignerInfo digestAlgorithm (RFC 5754 §3.2).
    if algorithm["algorithm"].native == "rsassa_pkcs1v15":
        return algos.SignedDigestAlgorithm({"algorithm": f"{signer['digest_algorithm']['algorithm'].native}_rsa"})
    return algorithm


def _check_signature(parts: _Parts, certificate: x509.Certificate) -> None:
    try:
        algorithm = _signature_algorithm(parts.signer, certificate)
        verify_signature(certificate.public_key, algorithm, parts.signer["signature"].native, parts.attributes_der)
    except (InvalidSignature, ValueError, KeyError, UnsupportedAlgorithm) as exc:
        if isinstance(exc, InvalidTimestamp):
            raise
        raise InvalidTimestamp(f"the token's signature does not verify with the TSA certificate: {exc}") from None


def _info(tst_info: tsp.TSTInfo) -> TimestampInfo:
    imprint = tst_info["message_imprint"]
    return TimestampInfo(
        gen_time=tst_info["gen_time"].native,
        serial=tst_info["serial_number"].native,
        policy=tst_info["policy"].dotted,
        hash_algorithm=imprint["hash_algorithm"]["algorithm"].native,
        imprint=imprint["hashed_message"].native,
        nonce=tst_info["nonce"].native,
    )


def verify_token(
    token_or_response_der: bytes, *, tsa_certificate: x509.Certificate, data: bytes | None = None
) -> TimestampInfo:
    """Check a time-stamp token (or a granted TimeStampResp) against ``tsa_certificate``.

    Checked: the signature over the signed attributes, messageDigest against the TSTInfo,
    signingCertificateV2 against ``tsa_certificate``, its id-kp-timeStamping EKU and, given
    ``data``, the imprint. Not checked: the path from ``tsa_certificate`` to a trust anchor,
    or its revocation, both the caller's. Raises :class:`InvalidTimestamp` (an
    :class:`keys.InvalidSignature`) on any failure.
    """
    parts = _parse(token_or_response_der)
    _check_signer(parts.signer, tsa_certificate)
    _check_signature(parts, tsa_certificate)
    _check_signed_attributes(parts, tsa_certificate)
    info = _info(parts.tst_info)
    if data is not None:
        if info.hash_algorithm not in DIGEST_SIZES:
            raise InvalidTimestamp(f"the token's imprint algorithm {info.hash_algorithm} is not accepted")
        if not hmac.compare_digest(info.imprint, digest(info.hash_algorithm, data)):
            raise InvalidTimestamp(f"the data does not match the token's {info.hash_algorithm} message imprint")
    return info
