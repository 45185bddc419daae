"""The SM2 recommended curve (GB/T 32918.5-2017, GM/T 0003.5) and backend-independent helpers.

Both SM2 backends share what is computed here: the user-identity hash Z (GB/T 32918.2 §5.5),
point validation, the encodings of signatures and ciphertexts. Keeping it in one place is what
makes "every signature made by one verifies with the other" true by construction.
"""

from __future__ import annotations

from asn1crypto import core

from keys.errors import DecryptionError, InvalidKey, InvalidSignature
from keys.sm3 import sm3

P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0

DEFAULT_UID = b"1234567812345678"  # GM/T 0009-2012 §10: the default user identity
COORD_BYTES = 32


def i2b(value: int) -> bytes:
    return value.to_bytes(COORD_BYTES, "big")


def check_point(x: int, y: int) -> None:
    """Raise InvalidKey unless (x, y) is a finite point on the curve (the cofactor is 1)."""
    if not (0 <= x < P and 0 <= y < P) or (y * y - (x * x * x + A * x + B)) % P != 0:
        raise InvalidKey("SM2 public key is not a point on the SM2 curve")


def check_scalar(d: int) -> None:
    """GB/T 32918.1 §6.1: a private key d lies in [1, n-2]."""
    if not 1 <= d <= N - 2:
        raise InvalidKey("SM2 private key is out of range [1, n-2]")


def encode_point(x: int, y: int) -> bytes:
    """Uncompressed SEC1 encoding 04 ‖ x ‖ y."""
    return b"\x04" + i2b(x) + i2b(y)


def decode_point(data: bytes) -> tuple[int, int]:
    if len(data) != 1 + 2 * COORD_BYTES or data[0] != 4:
        raise InvalidKey("SM2 public key must be an uncompressed point (04 ‖ x ‖ y)")
    x = int.from_bytes(data[1:33], "big")
    y = int.from_bytes(data[33:], "big")
    check_point(x, y)
    return x, y


def z_value(uid: bytes, x: int, y: int) -> bytes:
    """Z = SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖ xA ‖ yA), GB/T 32918.2 §5.5."""
    if len(uid) * 8 > 0xFFFF:
        raise ValueError("SM2 user ID is longer than 8191 bytes")
    entl = (len(uid) * 8).to_bytes(2, "big")
    return sm3(entl + uid + i2b(A) + i2b(B) + i2b(GX) + i2b(GY) + i2b(x) + i2b(y))


def message_digest(uid: bytes, x: int, y: int, data: bytes) -> int:
    """e = SM3(Z ‖ M) as an integer (GB/T 32918.2 §6.1 steps A1–A2)."""
    return int.from_bytes(sm3(z_value(uid, x, y) + data), "big")


def _der_int(value: int) -> bytes:
    body = value.to_bytes(value.bit_length() // 8 + 1, "big")  # leading 0x00 keeps it positive
    return b"\x02" + bytes([len(body)]) + body


def encode_signature(r: int, s: int) -> bytes:
    """DER SEQUENCE{r, s} (GM/T 0009 §7.3, the form OpenSSL and BouncyCastle emit)."""
    body = _der_int(r) + _der_int(s)
    return b"\x30" + bytes([len(body)]) + body


def _read_der_int(data: bytes, pos: int) -> tuple[int, int]:
    if pos + 2 > len(data) or data[pos] != 0x02:
        raise InvalidSignature("SM2 signature is not a DER SEQUENCE{r, s}")
    length = data[pos + 1]
    body = data[pos + 2 : pos + 2 + length]
    # Short-form length only (r, s ≤ 33 bytes); minimal, non-negative two's complement.
    if length == 0 or length > 33 or len(body) != length or body[0] & 0x80:
        raise InvalidSignature("SM2 signature is not a DER SEQUENCE{r, s}")
    if length > 1 and body[0] == 0 and not body[1] & 0x80:
        raise InvalidSignature("SM2 signature integer is not minimally encoded")
    return int.from_bytes(body, "big"), pos + 2 + length


def decode_signature(signature: bytes) -> tuple[int, int]:
    """Strict DER decode; raises InvalidSignature for anything else or out-of-range values.

    Hand-written rather than asn1crypto: it runs on every verification, and a strict parser
    for this one fixed shape is short enough to read in full.
    """
    if len(signature) < 8 or signature[0] != 0x30 or signature[1] != len(signature) - 2:
        raise InvalidSignature("SM2 signature is not a DER SEQUENCE{r, s}")
    r, pos = _read_der_int(signature, 2)
    s, pos = _read_der_int(signature, pos)
    if pos != len(signature):
        raise InvalidSignature("SM2 signature has trailing bytes")
    if not (1 <= r < N and 1 <= s < N):
        raise InvalidSignature("SM2 signature values out of range")
    return r, s


class _Cipher(core.Sequence):
    """GM/T 0009-2012 §7.2 SM2Cipher: the DER form of C1 ‖ C3 ‖ C2."""

    _fields = [
        ("x", core.Integer),
        ("y", core.Integer),
        ("hash", core.OctetString),
        ("ciphertext", core.OctetString),
    ]


def cipher_der_to_raw(der: bytes) -> bytes:
    """SM2Cipher DER -> raw C1C3C2 (04 ‖ x ‖ y ‖ C3 ‖ C2)."""
    try:
        parsed = _Cipher.load(der, strict=True)
        x, y = parsed["x"].native, parsed["y"].native
        c3, c2 = parsed["hash"].native, parsed["ciphertext"].native
    except (ValueError, TypeError) as exc:
        raise DecryptionError("SM2 ciphertext is not a DER SM2Cipher") from exc
    if not (0 <= x < P and 0 <= y < P) or len(c3) != 32:
        raise DecryptionError("SM2 ciphertext has an invalid C1 or C3")
    return encode_point(x, y) + c3 + c2


def cipher_raw_to_der(raw: bytes) -> bytes:
    """Raw C1C3C2 -> SM2Cipher DER."""
    if len(raw) < 65 + 32 or raw[0] != 4:
        raise DecryptionError("SM2 ciphertext is too short or C1 is not uncompressed")
    x = int.from_bytes(raw[1:33], "big")
    y = int.from_bytes(raw[33:65], "big")
    return _Cipher({"x": x, "y": y, "hash": raw[65:97], "ciphertext": raw[97:]}).dump()


def kdf(z: bytes, klen: int) -> bytes:
    """GB/T 32918.4 §5.4.3 key derivation: SM3(Z ‖ ct) for ct = 1, 2, ..."""
    out = bytearray()
    counter = 1
    while len(out) < klen:
        out += sm3(z + counter.to_bytes(4, "big"))
        counter += 1
    return bytes(out[:klen])
