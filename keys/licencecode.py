"""Reading the compact SM2-signed payload of a licence's 2D code (licence/payload.py writes it; verify/
checks it offline): ``base64url(JSON).base64url(DER signature)``. Here, below both, so that neither
copies the other."""

from __future__ import annotations

import base64
import json


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def read_payload(compact: str) -> tuple[dict, bytes, bytes]:
    """(claims, signed bytes, signature) of a compact payload; ValueError when malformed."""
    try:
        body_b64, sig_b64 = compact.split(".")
        body, signature = unb64(body_b64), unb64(sig_b64)
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
