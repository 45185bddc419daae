"""What a relying party checks in an OFD we sealed, spelled out with the reader and keys/ses (no second
verifier: verify/ owns verification; these are the test's own assertions about our output)."""

from __future__ import annotations

from dataclasses import dataclass

from keys import ses
from keys.pki.tsa import verify_token
from keys.sm3 import sm3
from ofd.package import OfdPackage, Signature


@dataclass
class Checked:
    package: OfdPackage
    signatures: list[Signature]


def mismatched_references(package: OfdPackage, signature: Signature) -> list[str]:
    """Files a signature names whose SM3 differs from its CheckValue, or that are gone."""
    names = set(package.names())
    return [ref.path for ref in signature.references
            if ref.path not in names or sm3(package.read(ref.path)) != ref.check_value]


def check_sealed(data: bytes, *, tsa_certificate=None) -> Checked:
    """Every signature: references match, the SES_Signature verifies over Signature.xml, the embedded seal's
    maker signature and certList hold, and (given the TSA certificate) the time-stamp covers the signature."""
    package = OfdPackage.open(data)
    signatures = package.signatures()
    assert signatures, "no signature"
    for signature in signatures:
        assert signature.check_method == "1.2.156.10197.1.401"
        assert signature.signature_method == "1.2.156.10197.1.501"
        assert not mismatched_references(package, signature), signature.path
        value = ses.parse_signature(package.read(signature.signed_value))
        result = ses.verify_signature(value, signature.raw)
        assert result.passed, [step.reason for step in result.failures]
        assert package.read(signature.seal) == value.seal.der
        if tsa_certificate is not None and value.has_timestamp:
            info = verify_token(value.timestamp, tsa_certificate=tsa_certificate, data=value.signature)
            assert info.hash_algorithm == "sm3"
    return Checked(package, signatures)
