"""The fast CMS path: a signed-attributes template reused per seal, and the in-process TSA."""

from __future__ import annotations

import secrets

from asn1crypto import cms, tsp
from pyhanko.sign.timestamps.api import TimeStamper

from keys.cms import KeySigner
from keys.der import signed_bytes
from keys.digests import digest
from keys.pki.tsa import TimeStampResp


class InProcessTimeStamper(TimeStamper):
    """pyhanko TimeStamper over a keys/ TimeStampAuthority (bytes in, bytes out; no HTTP)."""

    def __init__(self, authority) -> None:
        super().__init__(include_nonce=True)
        self._authority = authority

    def token_over(self, data: bytes, digest_algorithm: str = "sm3") -> bytes:
        """A DER RFC 3161 TimeStampToken whose imprint is ``digest_algorithm(data)`` (for GB/T 38540's
        timeStamp, over the signature value); raises ValueError when the TSA refuses."""
        return self.token_der(digest(digest_algorithm, data), digest_algorithm)

    @property
    def certificates(self) -> tuple:
        """The certificates every token of this TSA carries (its own, then its chain)."""
        return self._authority.certificates

    def token_der(self, message_digest: bytes, digest_algorithm: str) -> bytes:
        """The DER TimeStampToken over ``message_digest`` as the TSA encoded it, never re-encoded.

        asn1crypto 1.5 takes a definite length whose last byte is 0x80 (128, 384, ..., 0x5D80) for
        the indefinite form and re-encodes the whole value on every ``dump()``, which on a token
        nested in a SignerInfo took seconds to minutes of CPU (the B-LT stall seen under load): the
        token's bytes are taken as the TSA encoded them (keys/der.py). Raises ValueError when the
        TSA refuses or echoes another nonce.
        """
        nonce = secrets.randbits(63)
        request = tsp.TimeStampReq({
            "version": 1, "cert_req": True, "nonce": nonce,
            "message_imprint": {"hash_algorithm": {"algorithm": digest_algorithm}, "hashed_message": message_digest},
        })
        # keys/'s TimeStampResp: the token is OPTIONAL, as in RFC 3161 (a refusal carries none)
        response = TimeStampResp.load(self._authority.respond(request.dump()))
        if response["status"]["status"].native not in ("granted", "granted_with_mods"):
            raise ValueError(f"the time-stamp authority refused: {response['status']['status_string'].native}")
        token = response["time_stamp_token"]
        if token["content"]["encap_content_info"]["content"].parsed["nonce"].native != nonce:
            raise ValueError("the time-stamp authority echoed another nonce")
        return signed_bytes(token)

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        return tsp.TimeStampResp.load(self._authority.respond(req.dump()))


def _der(tag: int, content: bytes) -> bytes:
    length = len(content)
    if length < 0x80:
        return bytes((tag, length)) + content
    size = (length.bit_length() + 7) // 8
    return bytes((tag, 0x80 | size)) + length.to_bytes(size, "big") + content


class _Encoded(cms.ContentInfo):
    """A ContentInfo loaded from DER whose ``dump()`` hands back that DER (see ``token_der``)."""

    _der: bytes = b""

    def dump(self, force: bool = False) -> bytes:
        if force or not self._der or self._is_mutated():
            return super().dump(force=force)
        return self._der


def encoded_content_info(der: bytes) -> cms.ContentInfo:
    info = _Encoded.load(der)
    info._der = der
    return info


_TST_ATTRIBUTE = _der(0x06, bytes.fromhex("2a864886f70d010910020e"))  # id-aa-timeStampToken 1.2.840.113549.1.9.16.2.14
_SIGNED_DATA = _der(0x06, bytes.fromhex("2a864886f70d010702"))  # 1.2.840.113549.1.7.2


class _Template:
    """The parts of one PAdES SignedData that are the same for every document a seal signs."""

    def __init__(self, content_info: cms.ContentInfo, data_digest: bytes) -> None:
        signed_data = content_info["content"]
        signer_info = signed_data["signer_infos"][0]
        attrs = signer_info["signed_attrs"]
        varying = {"signing_time", "signature_time_stamp_token"} & {a["type"].native for a in attrs}
        if varying:
            raise ValueError(f"signed attributes that vary per document: {', '.join(sorted(varying))}")
        self.attrs = b"\x31" + attrs.dump()[1:]  # the SET encoding, which is what is signed
        self.digest_at = self.attrs.index(data_digest)
        if self.attrs.find(data_digest, self.digest_at + 1) != -1:
            raise ValueError("the message digest occurs twice in the signed attributes")
        self.digest_len = len(data_digest)
        self.head = b"".join(signed_data[name].dump() for name in ("version", "digest_algorithms",
                                                                   "encap_content_info", "certificates"))
        self.info_head = b"".join(signer_info[name].dump() for name in ("version", "sid", "digest_algorithm"))
        self.signature_algorithm = signer_info["signature_algorithm"].dump()

    def signed_attributes(self, digest: bytes) -> bytes:
        if len(digest) != self.digest_len:
            raise ValueError("digest length changed")
        return self.attrs[: self.digest_at] + digest + self.attrs[self.digest_at + self.digest_len:]

    def content_info(self, signed_attrs: bytes, signature: bytes, token: bytes | None) -> bytes:
        unsigned = b""
        if token is not None:
            unsigned = _der(0xA1, _der(0x30, _TST_ATTRIBUTE + _der(0x31, token)))
        info = _der(0x30, self.info_head + b"\xa0" + signed_attrs[1:] + self.signature_algorithm
                    + _der(0x04, signature) + unsigned)
        signed_data = _der(0x30, self.head + _der(0x31, info))
        return _der(0x30, _SIGNED_DATA + _der(0xA0, signed_data))


class _FastSigner(KeySigner):
    """KeySigner that assembles PAdES SignedData from pre-encoded parts.

    pyhanko's own path re-encodes the certificates, algorithms and attributes with asn1crypto on
    every signature (DESIGN.md: most of its time). The first PAdES signature goes through it;
    its DER then serves as a template in which only the message digest, the signature value and
    the time-stamp token change. Dry runs, non-PAdES signatures (which carry a signing time)
    and anything unusual take pyhanko's path.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._templates: dict[tuple, _Template] = {}

    async def async_sign(self, data_digest, digest_algorithm, dry_run=False, use_pades=False, timestamper=None,
                         signed_attr_settings=None, is_pdf_sig=True, encap_content_info=None):
        settings = signed_attr_settings
        usual = (not dry_run and use_pades and is_pdf_sig and encap_content_info is None
                 and (settings is None or (getattr(settings, "adobe_revinfo_attr", None) is None
                                           and getattr(settings, "cades_signed_attrs", None) is None)))
        key = digest_algorithm
        if not usual or self._templates.get(key, ...) is None:
            return await super().async_sign(data_digest, digest_algorithm, dry_run=dry_run, use_pades=use_pades,
                                            timestamper=timestamper, signed_attr_settings=signed_attr_settings,
                                            is_pdf_sig=is_pdf_sig, encap_content_info=encap_content_info)
        template = self._templates.get(key)
        if template is None:
            first = await super().async_sign(data_digest, digest_algorithm, use_pades=True, timestamper=None,
                                             signed_attr_settings=settings)
            try:
                template = self._templates[key] = _Template(first, data_digest)
            except ValueError:
                self._templates[key] = None  # something varies per document: stay on pyhanko's path
                return await super().async_sign(data_digest, digest_algorithm, use_pades=True,
                                                timestamper=timestamper, signed_attr_settings=settings)
        signed_attrs = template.signed_attributes(data_digest)
        signature = await self.async_sign_raw(signed_attrs, digest_algorithm)
        token = None
        if timestamper is not None:
            imprint = digest(digest_algorithm, signature)
            if isinstance(timestamper, InProcessTimeStamper):
                token = timestamper.token_der(imprint, digest_algorithm)
            else:  # another TSA's token, as its response carried it (keys/der.py: never re-encoded)
                token = signed_bytes(await timestamper.async_timestamp(imprint, digest_algorithm))
        return encoded_content_info(template.content_info(signed_attrs, signature, token))
