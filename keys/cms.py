"""CMS signing for PDF signatures with our keys: SM2-with-SM3, ECDSA P-256 and RSA.

:class:`KeySigner` is a pyhanko ``Signer`` over any :mod:`keys.asymmetric` private key (a key
the keystore unwrapped, or one a test generated). For SM2 it emits what Chinese signers and
iText+BouncyCastle emit (DESIGN.md "PDF signatures with SM2"): digestAlgorithm SM3,
signatureAlgorithm SM2-with-SM3 (1.2.156.10197.1.501), signature = DER SEQUENCE{r, s} over the
DER signed attributes with the default user ID (GM/T 0009). pyhanko signs the DER signed
attributes through :meth:`KeySigner.async_sign_raw`; the key hashes them itself (SM2 computes
SM3(Z ‖ M), so it cannot sign a bare prehash).

A GB/T 38540 ``SESeal`` travels in the signed attribute :data:`keys.oids.YITONG_SESEAL_ATTRIBUTE`
(value SET OF OCTET STRING holding the DER seal): :func:`seseal_from_signer_info` reads it back.
"""

from __future__ import annotations

from collections.abc import Iterable

from asn1crypto import algos, cms, x509
from pyhanko.sign.attributes import CMSAttributeProvider
from pyhanko.sign.signers.pdf_cms import Signer
from pyhanko_certvalidator.registry import SimpleCertificateStore

from keys import oids
from keys.asymmetric import PrivateKey
from keys.pki.signing import digest_algorithm, signature_algorithm

# Upper bound of a DER ECDSA/SM2 signature over a 256-bit curve: SEQUENCE{INTEGER r, INTEGER s}
# with both integers 33 bytes (leading zero) = 2 + 2 * 35 = 72 bytes.
_EC_SIGNATURE_MAX = 72


class _SESealProvider(CMSAttributeProvider):
    attribute_type = "yitong_seseal"

    def __init__(self, seseal_der: bytes) -> None:
        self._value = seseal_der

    async def build_attr_value(self, dry_run: bool = False) -> cms.OctetString:
        return cms.OctetString(self._value)


class KeySigner(Signer):
    """A pyhanko ``Signer`` for one of our private keys and its certificate.

    ``chain`` holds the issuing certificates to embed (the signer certificate always is);
    ``seseal`` is the DER GB/T 38540 seal to carry as a signed attribute, if any.
    """

    def __init__(
        self,
        key: PrivateKey,
        certificate: x509.Certificate,
        chain: Iterable[x509.Certificate] = (),
        *,
        seseal: bytes | None = None,
        embed_roots: bool = True,
    ) -> None:
        self._key = key
        self._seseal = seseal
        super().__init__(
            signing_cert=certificate,
            cert_registry=SimpleCertificateStore.from_certs([certificate, *chain]),
            signature_mechanism=signature_algorithm(key.algorithm),
            embed_roots=embed_roots,
        )

    @property
    def digest_algorithm(self) -> str:
        """The digest that goes with the key: ``sm3`` for SM2, ``sha256`` otherwise."""
        return digest_algorithm(self._key.algorithm)

    def get_signature_mechanism_for_digest(self, digest_algorithm: str | None) -> algos.SignedDigestAlgorithm:
        mechanism = self.signature_mechanism
        assert mechanism is not None
        return mechanism

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        if digest_algorithm != self.digest_algorithm:
            raise ValueError(f"a {self._key.algorithm} key signs with {self.digest_algorithm}, not {digest_algorithm}")
        if dry_run and self._key.algorithm in ("sm2", "p256"):
            return bytes(_EC_SIGNATURE_MAX)
        return self._key.sign(data)

    def _signed_attr_providers(self, *args, **kwargs):
        yield from super()._signed_attr_providers(*args, **kwargs)
        if self._seseal is not None:
            yield _SESealProvider(self._seseal)


def seseal_from_signer_info(signer_info: cms.SignerInfo) -> bytes | None:
    """The DER SESeal a signer info carries in its signed attributes, or None.

    Raises ``ValueError`` when the attribute is present more than once or holds other than one
    value: a verifier must not pick one of several seals.
    """
    signed_attrs = signer_info["signed_attrs"]
    if not signed_attrs:
        return None
    found = [attr for attr in signed_attrs if attr["type"].dotted == oids.YITONG_SESEAL_ATTRIBUTE]
    if not found:
        return None
    if len(found) != 1 or len(found[0]["values"]) != 1:
        raise ValueError("the SESeal attribute must appear once with one value")
    return bytes(found[0]["values"][0].native)
