"""An OCSP responder (RFC 6960) as pure logic: a DER OCSPRequest in, a DER OCSPResponse out.

No web framework and no database: the HTTP layer hands us the request body (POST, §A.1) or the
decoded GET path (:func:`request_from_get_path`), and a ``lookup(ca_name, serial)`` callable
answers for each certificate. What we follow:

* §4.1.1 — each CertID names the issuer by the hash of its subject DN and of its public key,
  with the hash algorithm the client chose (SHA-1, SHA-256, SM3 ...); we echo the CertID as sent.
* §2.3 — a request for an issuer we do not serve is answered ``unauthorized``; one that does not
  parse is ``malformedRequest``; anything that goes wrong on our side is ``internalError``.
* §2.6 / §4.2.2.2 — responses are signed by a delegated responder (a certificate issued by the
  CA itself with id-kp-OCSPSigning and id-pkix-ocsp-nocheck, §4.2.2.2.1) or by the CA itself;
  the signer's certificate is sent in ``certs``. Which one: keys.pki.authority.delegates_ocsp.
* §4.2.1 — responderID byKey: SHA-1 of the responder's subjectPublicKey BIT STRING contents.
* §4.4.1 — the nonce extension, when present, is echoed unchanged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

from asn1crypto import core, ocsp, x509

from keys.clock import utcnow
from keys.digests import digest
from keys.pki.profiles import PkiError
from keys.pki.signing import signature_algorithm

logger = logging.getLogger(__name__)

# CertID hash algorithms we can match an issuer with (asn1crypto DigestAlgorithmId names).
_HASHES = ("sha1", "sha256", "sha384", "sha512", "sm3")
STATUSES = ("good", "revoked", "unknown")


@dataclass(frozen=True)
class CertificateStatus:
    """What the lookup says about one certificate."""

    status: str  # "good" | "revoked" | "unknown"
    revoked_at: datetime | None = None
    reason: str | None = None  # asn1crypto CRLReason name: key_compromise, certificate_hold, superseded, ...


@dataclass(frozen=True)
class Responder:
    """One CA's responder: the CA's certificate, and the signing key and certificate (delegated or the CA's)."""

    ca_name: str  # e.g. "p256-issuing", passed to the lookup
    ca_certificate: x509.Certificate
    key: object  # keys.asymmetric.PrivateKey
    certificate: x509.Certificate  # issued by ca_certificate with the "ocsp" profile


class OcspRefused(PkiError):
    """A request we answer with an unsuccessful status (§2.3) rather than a BasicOCSPResponse;
    ``respond`` turns it into that answer, so it never leaves the responder."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


def _public_key_bits(certificate: x509.Certificate) -> bytes:
    # The BIT STRING's contents without the leading unused-bits octet (§4.1.1, §4.2.1).
    return certificate.public_key["public_key"].contents[1:]


def _issuer_hashes(certificate: x509.Certificate) -> dict[str, tuple[bytes, bytes]]:
    """(issuerNameHash, issuerKeyHash) of a CA certificate under every hash we support."""
    name, key = certificate.subject.dump(), _public_key_bits(certificate)
    return {algorithm: (digest(algorithm, name), digest(algorithm, key)) for algorithm in _HASHES}


def _whole_seconds(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous; the clock and lookup must give aware UTC datetimes")
    return moment.astimezone(UTC).replace(microsecond=0)


def _parse_request(request_der: bytes) -> tuple[list[ocsp.CertId], list[ocsp.ResponseDataExtension]]:
    """The CertIDs and the nonce extension to echo; malformedRequest if what we use does not parse."""
    try:
        tbs = ocsp.OCSPRequest.load(request_der, strict=True)["tbs_request"]
        tbs["version"].native  # noqa: B018
        cert_ids = [item["req_cert"] for item in tbs["request_list"]]
        for cert_id in cert_ids:
            cert_id.native  # noqa: B018  (parsed now: asn1crypto parses lazily and would fail later)
        # Only the extension OIDs are parsed: some clients put the bare nonce bytes in extnValue
        # instead of a DER OCTET STRING, and such a nonce is echoed byte for byte all the same.
        nonces = [ocsp.ResponseDataExtension.load(extension.dump())
                  for extension in tbs["request_extensions"] or []
                  if extension["extn_id"].native == "nonce"]
    except Exception:  # asn1crypto raises ValueError, TypeError, KeyError, OverflowError ...
        raise OcspRefused("malformed_request") from None
    if not cert_ids:
        raise OcspRefused("malformed_request")  # §4.1.1: requestList holds at least one Request
    # A signed request (optionalSignature) is accepted without checking its signature: §4.1.2 makes
    # request signing optional, we answer anyone, and the signature would not change our answer.
    return cert_ids, nonces


class OcspResponder:
    """Answers OCSP requests for the CAs of ``responders``, asking ``lookup(ca_name, serial)`` for status."""

    def __init__(
        self,
        responders: list[Responder],
        lookup: Callable[[str, int], CertificateStatus],
        validity: timedelta = timedelta(hours=1),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if validity <= timedelta(0):
            raise ValueError("an OCSP response must be valid for some time")
        self._lookup = lookup
        self._validity = validity
        self._clock = clock
        # (hash algorithm, issuerNameHash, issuerKeyHash) -> responder; the first responder of a CA wins.
        self._by_issuer: dict[tuple[str, bytes, bytes], Responder] = {}
        for responder in responders:
            for algorithm, (name_hash, key_hash) in _issuer_hashes(responder.ca_certificate).items():
                self._by_issuer.setdefault((algorithm, name_hash, key_hash), responder)

    def respond(self, request_der: bytes) -> bytes:
        """Always a DER OCSPResponse; never raises for bad input."""
        try:
            cert_ids, nonces = _parse_request(request_der)
            responder = self._responder_for(cert_ids)
            return self._successful(responder, cert_ids, nonces)
        except OcspRefused as refusal:
            return _unsuccessful(refusal.status)
        except Exception:
            # A bug or a failing lookup must not leak a traceback to the client (§2.3 internalError).
            logger.exception("OCSP responder failed")
            return _unsuccessful("internal_error")

    def _responder_for(self, cert_ids: list[ocsp.CertId]) -> Responder:
        """The one responder whose CA issued every certificate asked about (§2.3 unauthorized otherwise)."""
        matched = []
        for cert_id in cert_ids:
            key = (cert_id["hash_algorithm"]["algorithm"].native, cert_id["issuer_name_hash"].native,
                   cert_id["issuer_key_hash"].native)
            if key not in self._by_issuer:
                raise OcspRefused("unauthorized")  # not one of our CAs, or a hash we cannot match
            matched.append(self._by_issuer[key])
        if any(responder is not matched[0] for responder in matched):
            # One BasicOCSPResponse has one signer, and a delegated responder speaks for one CA only.
            raise OcspRefused("unauthorized")
        return matched[0]

    def _successful(self, responder: Responder, cert_ids: list[ocsp.CertId], extensions: list) -> bytes:
        now = _whole_seconds(self._clock())
        responses = [self._single_response(responder, cert_id, now) for cert_id in cert_ids]
        data = {
            "version": "v1",
            "responder_id": ocsp.ResponderId(
                name="by_key", value=hashlib.sha1(_public_key_bits(responder.certificate),
                                                  usedforsecurity=False).digest()),
            "produced_at": now,
            "responses": responses,
        }
        if extensions:
            data["response_extensions"] = extensions
        tbs = ocsp.ResponseData(data)
        basic = ocsp.BasicOCSPResponse({
            "tbs_response_data": tbs,
            "signature_algorithm": signature_algorithm(responder.key.algorithm),
            "signature": responder.key.sign(tbs.dump()),
            "certs": [responder.certificate],
        })
        return ocsp.OCSPResponse({
            "response_status": "successful",
            "response_bytes": {"response_type": "basic_ocsp_response", "response": basic},
        }).dump()

    def _single_response(self, responder: Responder, cert_id: ocsp.CertId, now: datetime) -> ocsp.SingleResponse:
        status = self._lookup(responder.ca_name, cert_id["serial_number"].native)
        return ocsp.SingleResponse({
            # The parsed CertID is reused, so it goes back exactly as the client encoded it (§4.2.1).
            "cert_id": cert_id,
            "cert_status": _cert_status(status),
            "this_update": now,
            "next_update": now + self._validity,
        })


def _cert_status(status: CertificateStatus) -> ocsp.CertStatus:
    if status.status not in STATUSES:
        raise ValueError(f"lookup returned status {status.status!r}; expected one of {', '.join(STATUSES)}")
    if status.status != "revoked":
        return ocsp.CertStatus(name=status.status, value=core.Null())
    if status.revoked_at is None:
        raise ValueError("a revoked certificate needs its revocation time")
    revoked = {"revocation_time": _whole_seconds(status.revoked_at)}
    if status.reason is not None:
        # A hold is "revoked" with reason certificateHold (§2.2); an unknown name raises here.
        revoked["revocation_reason"] = status.reason
    return ocsp.CertStatus(name="revoked", value=ocsp.RevokedInfo(revoked))


def _unsuccessful(status: str) -> bytes:
    # §4.2.1: unsuccessful responses carry no responseBytes and are not signed.
    return ocsp.OCSPResponse({"response_status": status}).dump()


def request_from_get_path(path_segment: str) -> bytes:
    """The DER OCSPRequest of a GET request's last path segment (§A.1: URL-encoded base64 of the DER).

    Unquoting is idempotent for base64 text (it has no ``%``), so a segment the web framework has
    already decoded is accepted too. Raises ValueError when the segment is not such a request.
    """
    text = unquote(path_segment.strip().lstrip("/"))
    try:
        der = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the GET path is not base64") from None
    try:
        _parse_request(der)
    except OcspRefused:
        raise ValueError("the GET path does not encode an OCSP request") from None
    return der
