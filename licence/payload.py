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

import base64
import json
from dataclasses import dataclass

from keys.sm3 import sm3


def data_digest(record: dict) -> str:
    """SM3 (hex) of the canonical JSON of a licence's data record."""
    canonical = json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return sm3(canonical.encode()).hex()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


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


def read_payload(compact: str) -> tuple[dict, bytes, bytes]:
    """(claims, signed bytes, signature) of a compact payload; ValueError when malformed."""
    try:
        body_b64, sig_b64 = compact.split(".")
        body, signature = _unb64(body_b64), _unb64(sig_b64)
        claims = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"not a licence 2D-code payload ({exc})") from None
    if not isinstance(claims, dict):
        raise ValueError("not a licence 2D-code payload")
    return claims, body, signature


def verify_payload(compact: str, public_key) -> dict:
    """The claims of a payload whose signature ``public_key`` (keys.asymmetric) verifies; ValueError if not."""
    claims, body, signature = read_payload(compact)
    try:
        public_key.verify(signature, body)
    except Exception as exc:  # InvalidSignature, or a malformed DER signature from a forged code
        raise ValueError(f"the 2D code's signature does not verify ({type(exc).__name__})") from None
    return claims


def verification_url(issuer: str, payload: CodePayload) -> str:
    return f"{issuer.rstrip('/')}/licences/v?c={payload.compact}"


def status_url(issuer: str, licence_id: str) -> str:
    """The public status endpoint of one licence (``GET``; licence/api.py), written into the licence's metadata."""
    return f"{issuer.rstrip('/')}/licences/api/v1/licences/{licence_id}/status"
