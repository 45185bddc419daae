"""Pure-Python SM2 backend on gmssl's curve arithmetic, with gmssl 3.2.2's flaws fixed.

We use only gmssl's Jacobian point arithmetic (``CryptSM2._kg``/``_add_point``) and supply
everything that gmssl gets wrong (DESIGN.md, "gmssl 3.2.2 flaws"):

- nonces k come from ``secrets`` (gmssl draws them from ``random.choice``);
- Z and e = SM3(Z ‖ M) are computed in :mod:`keys.sm2.curve` for any user ID (gmssl hard-codes
  the default ID);
- ciphertexts are C1C3C2 (gmssl defaults to C1C2C3) and C3 is checked in constant time on
  decryption (gmssl never checks it);
- the public key is set after construction, bypassing ``public_key.lstrip("04")``, which
  strips every leading '0'/'4' digit of x, not only the 04 prefix;
- r, s ∈ [1, n-1] and t ≠ 0 are checked before any arithmetic (GB/T 32918.2 §7.1 B1–B5), and
  a point at infinity in verification is a failed signature, not a crash.

It is about 30× slower than the native backend and exists as a fallback and a cross-check.
"""

from __future__ import annotations

import hmac
import secrets

from gmssl.sm2 import CryptSM2

from keys.errors import DecryptionError, InvalidKey, InvalidSignature
from keys.sm2 import curve

_HEX = "%064x"


def _point_hex(x: int, y: int) -> str:
    return (_HEX % x) + (_HEX % y)


def _parse_point(text: str | None) -> tuple[int, int] | None:
    if not text or len(text) != 128:
        return None
    return int(text[:64], 16), int(text[64:], 16)


class _Handle:
    __slots__ = ("d", "engine", "x", "y")

    def __init__(self, d: int | None, x: int, y: int) -> None:
        self.d, self.x, self.y = d, x, y
        self.engine = CryptSM2(private_key=(_HEX % d) if d else "", public_key="")
        self.engine.public_key = _point_hex(x, y)  # see module docstring: lstrip("04")


class PureBackend:
    name = "pure"
    version = "gmssl 3.2.2 arithmetic (Python)"

    _g = CryptSM2(private_key="", public_key="")

    def _mul(self, k: int, x: int, y: int) -> tuple[int, int] | None:
        return _parse_point(self._g._kg(k, _point_hex(x, y)))

    def _mul_g(self, k: int) -> tuple[int, int]:
        point = self._mul(k, curve.GX, curve.GY)
        if point is None:  # k is reduced below n by every caller, so this cannot happen
            raise ArithmeticError("scalar multiple of G is the point at infinity")
        return point

    def load_private(self, d: int, x: int, y: int) -> _Handle:
        return _Handle(d, x, y)

    def load_public(self, x: int, y: int) -> _Handle:
        return _Handle(None, x, y)

    def public_point(self, d: int) -> tuple[int, int]:
        return self._mul_g(d)

    # -- signatures (GB/T 32918.2 §6.1 and §7.1) ---------------------------------------------
    def sign(self, handle: _Handle, uid: bytes, data: bytes) -> bytes:
        while True:
            signature = self.sign_with_nonce(handle, uid, data, secrets.randbelow(curve.N - 1) + 1)
            if signature is not None:
                return signature

    def sign_with_nonce(self, handle: _Handle, uid: bytes, data: bytes, k: int) -> bytes | None:
        """One attempt with a given k (None when §6.1 A5/A6 demand another k).

        Public so that the GB/T 32918.5 worked example, which fixes k, can be reproduced in
        tests; a real signature must use :meth:`sign`, which draws k from ``secrets``.
        """
        e = curve.message_digest(uid, handle.x, handle.y, data)
        x1, _ = self._mul_g(k)
        r = (e + x1) % curve.N
        if r == 0 or r + k == curve.N:
            return None
        s = (pow(handle.d + 1, -1, curve.N) * (k - r * handle.d)) % curve.N
        return curve.encode_signature(r, s) if s else None

    def verify(self, handle: _Handle, uid: bytes, data: bytes, signature: bytes) -> bool:
        try:
            r, s = curve.decode_signature(signature)
        except InvalidSignature:
            return False
        return self.verify_e(handle, curve.message_digest(uid, handle.x, handle.y, data), r, s)

    def verify_e(self, handle: _Handle, e: int, r: int, s: int) -> bool:
        """GB/T 32918.2 §7.1 B3-B7 for a given e (what a signer that pre-hashed its own way signed)."""
        if not (1 <= r < curve.N and 1 <= s < curve.N):
            return False
        t = (r + s) % curve.N
        if t == 0:
            return False
        engine = handle.engine
        p1 = engine._kg(s, _point_hex(curve.GX, curve.GY))
        p2 = engine._kg(t, _point_hex(handle.x, handle.y))
        if p1 is None or p2 is None:
            return False
        if p1 == p2:
            total = engine._convert_jacb_to_nor(engine._double_point(p1 + "1"))
        else:
            total = engine._convert_jacb_to_nor(engine._add_point(p1 + "1", p2))
        point = _parse_point(total)
        if point is None:  # s·G + t·P is the point at infinity
            return False
        return (e + point[0]) % curve.N == r

    # -- encryption (GB/T 32918.4 §6.1 and §7.1) ----------------------------------------------
    def encrypt(self, handle: _Handle, plaintext: bytes) -> bytes:
        while True:
            ciphertext = self.encrypt_with_nonce(handle, plaintext, secrets.randbelow(curve.N - 1) + 1)
            if ciphertext is not None:
                return ciphertext

    def encrypt_with_nonce(self, handle: _Handle, plaintext: bytes, k: int) -> bytes | None:
        """One attempt with a given k, for the published example (see :meth:`sign_with_nonce`)."""
        c1 = self._mul_g(k)
        shared = self._mul(k, handle.x, handle.y)
        x2, y2 = curve.i2b(shared[0]), curve.i2b(shared[1])
        t = curve.kdf(x2 + y2, len(plaintext))
        if plaintext and not any(t):
            return None  # §6.1 A5: an all-zero t means choose another k
        c2 = bytes(a ^ b for a, b in zip(plaintext, t, strict=True))
        c3 = curve.sm3(x2 + plaintext + y2)
        return curve.encode_point(*c1) + c3 + c2

    def decrypt(self, handle: _Handle, raw: bytes) -> bytes:
        if len(raw) < 97 or raw[0] != 4:
            raise DecryptionError("SM2 ciphertext is too short or C1 is not uncompressed")
        try:
            c1 = curve.decode_point(raw[:65])
        except InvalidKey as exc:
            raise DecryptionError("SM2 ciphertext C1 is not on the curve") from exc
        c3, c2 = raw[65:97], raw[97:]
        shared = self._mul(handle.d, *c1)
        if shared is None:
            raise DecryptionError("SM2 decryption failed (wrong key or tampered ciphertext)")
        x2, y2 = curve.i2b(shared[0]), curve.i2b(shared[1])
        t = curve.kdf(x2 + y2, len(c2))
        if c2 and not any(t):
            raise DecryptionError("SM2 decryption failed (wrong key or tampered ciphertext)")
        plain = bytes(a ^ b for a, b in zip(c2, t, strict=True))
        if not hmac.compare_digest(curve.sm3(x2 + plain + y2), c3):
            raise DecryptionError("SM2 decryption failed (wrong key or tampered ciphertext)")
        return plain
