"""Time-stamping checkpoints with this home's own TSA (keys/pki/tsa.py), in process."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from asn1crypto import cms, tsp, x509

from keys.errors import InvalidSignature
from keys.pki.certificates import verify_certificate_signature
from keys.pki.tsa import TimeStampResp, verify_token
from keys.sm3 import sm3


class TsaStamper:
    """``stamp(data)`` -> an RFC 3161 token (DER, certificates included) over SM3(data);
    ``check(token, data)`` raises :class:`keys.InvalidSignature` unless one of ``cas`` issued the
    TSA certificate in the token and that certificate signed it over ``data``."""

    def __init__(self, authority: Callable[[], object], cas: Callable[[], list[x509.Certificate]]) -> None:
        self._make_authority = authority  # -> keys.pki.tsa.TimeStampAuthority
        self._authority = None
        self._cas = cas

    @property
    def ready(self) -> bool:
        return self._authority is not None

    def warm(self) -> None:
        """Load the TSA key and certificate (database reads and writes of their own): called
        outside any transaction, since stamping happens while a chain's head is locked."""
        if self._authority is None:
            self._authority = self._make_authority()

    def stamp(self, data: bytes) -> bytes:
        if self._authority is None:
            raise RuntimeError("the TSA is not loaded (TsaStamper.warm)")
        request = tsp.TimeStampReq({
            "version": "v1",
            "message_imprint": {"hash_algorithm": {"algorithm": "sm3"}, "hashed_message": sm3(data)},
            "nonce": secrets.randbits(63),
            "cert_req": True,
        })
        response = TimeStampResp.load(self._authority.respond(request.dump()))
        status = response["status"]["status"].native
        if status not in ("granted", "granted_with_mods"):
            raise InvalidSignature(f"the TSA refused to stamp a checkpoint: {status}")
        return response["time_stamp_token"].dump()

    def check(self, token: bytes, data: bytes):
        certificate = _signer_certificate(token)
        for ca in self._cas():
            if ca.subject == certificate.issuer:
                try:
                    verify_certificate_signature(certificate, ca)
                except InvalidSignature:
                    continue
                return verify_token(token, tsa_certificate=certificate, data=data)
        raise InvalidSignature("the checkpoint's time stamp is not from this home's TSA")


def _signer_certificate(token: bytes) -> x509.Certificate:
    try:
        signed = cms.ContentInfo.load(token)["content"]
        sid = signed["signer_infos"][0]["sid"].chosen
        for choice in signed["certificates"] or []:
            certificate = choice.chosen
            if (certificate.issuer == sid["issuer"]
                    and certificate.serial_number == sid["serial_number"].native):
                return certificate
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise InvalidSignature(f"not a time-stamp token: {exc}") from None
    raise InvalidSignature("the time-stamp token carries no certificate of its signer")


def open_chain(keystore, pki, *, tsa_algorithm: str = "sm2", policy=None):
    """The audit chain of a home: keyed by the keystore's chain secret, checkpoints stamped by the
    TSA that ``{tsa_algorithm}-issuing`` certified and checked against the home's CAs."""
    from keys.auditchain.chain import CHAIN_SECRET, AuditChain

    stamper = TsaStamper(lambda: pki.time_stamp_authority(tsa_algorithm),
                         lambda: [pki.ca_certificate(name) for name in pki.ca_names()])
    return AuditChain(keystore.engine, keystore.secret(CHAIN_SECRET), stamper=stamper, policy=policy)
