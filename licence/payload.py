"""The 2D code on a licence face: the verification URL carrying a compact SM2-signed payload.

Form (one module, so it can follow GB/T 36905 once its exact 2D-code syntax is settled)::

    <issuer>/licences/v?c=<base64url(JSON)>.<base64url(signature)>

The JSON is compact and holds no full personal data: ``i`` licence id, ``t`` type code, ``h``
holder name masked (persons; organisations' names are public), ``f``/``u`` validity (ISO dates,
``u`` null for long-term), ``d`` the SM3 digest (hex) of the licence's canonical data record
(identifier, holder and data items; the file's own hash cannot sit inside the file), ``e`` the
esID whose key signed. The signature is the issuing authority's seal key over the JSON bytes:
SM2-with-SM3 (default user ID) for SM2 seals, ECDSA-SHA256 for P-256 ones, DER encoded — so a
verifier with the seal certificate checks it offline.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from keys.licencecode import b64 as _b64
from keys.licencecode import read_payload, verify_payload
from keys.sm3 import sm3


def data_digest(record: dict) -> str:
    """SM3 (hex) of the canonical JSON of a licence's data record."""
    canonical = json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return sm3(canonical.encode()).hex()


@dataclass(frozen=True)
class CodePayload:
    claims: dict
    signature: bytes

    @property
    def compact(self) -> str:
        return f"{_b64(self.signed_bytes)}.{_b64(self.signature)}"

    @property
    def signed_bytes(self) -> bytes:
        return json.dumps(self.claims, ensure_ascii=False, separators=(",", ":")).encode()


def sign_payload(key, claims: dict) -> CodePayload:
    body = json.dumps(claims, ensure_ascii=False, separators=(",", ":")).encode()
    return CodePayload(claims, key.sign(body))


def verification_url(issuer: str, payload: CodePayload) -> str:
    return f"{issuer.rstrip('/')}/licences/v?c={payload.compact}"


def status_url(issuer: str, licence_id: str) -> str:
    """The public status endpoint of one licence (``GET``; licence/api.py), written into the licence's metadata."""
    return f"{issuer.rstrip('/')}/licences/api/v1/licences/{licence_id}/status"


__all__ = ["CodePayload", "data_digest", "read_payload", "sign_payload", "status_url", "verification_url",
           "verify_payload"]
