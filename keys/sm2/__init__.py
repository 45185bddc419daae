"""SM2 (GB/T 32918-2016) keys with a cryptography-style API, over a native or a pure backend.

    key = SM2PrivateKey.generate()
    signature = key.sign(b"data")                       # DER SEQUENCE{r, s} over SM3(Z ‖ M)
    key.public_key().verify(signature, b"data")         # raises keys.InvalidSignature
    pem = key.private_bytes_pem(password=b"...")        # PKCS#8, optionally PBES2-encrypted

The backend is chosen by ``YITONG_SM2_BACKEND`` (``auto`` = native when it loads, else pure),
or per key with ``backend=``. Keys hold integers; each backend keeps its own handle, so a key
made under one backend is used under the other without re-encoding.
"""

from __future__ import annotations

import os
import secrets
import threading
from typing import Literal

from keys.errors import BackendUnavailable, InvalidKey, InvalidSignature
from keys.sm2 import curve, encoding

DEFAULT_UID = curve.DEFAULT_UID
BackendName = Literal["native", "pure", "auto"]
_BACKEND_NAMES = ("native", "pure", "auto")

_backends: dict[str, object] = {}
_backend_errors: dict[str, str] = {}
_lock = threading.Lock()


def _load(name: str):
    with _lock:
        if name in _backends:
            return _backends[name]
        if name in _backend_errors:
            raise BackendUnavailable(_backend_errors[name])
        try:
            if name == "native":
                from keys.sm2._native import NativeBackend

                backend = NativeBackend()
            else:
                from keys.sm2._pure import PureBackend

                backend = PureBackend()
        except (BackendUnavailable, OSError, ImportError) as exc:
            _backend_errors[name] = str(exc)
            raise BackendUnavailable(f"SM2 backend {name!r} is unavailable: {exc}") from exc
        _backends[name] = backend
        return backend


def get_backend(name: str | None = None):
    """The backend object for ``name`` (default: ``YITONG_SM2_BACKEND`` or ``auto``)."""
    name = name or os.environ.get("YITONG_SM2_BACKEND", "auto") or "auto"
    if name not in _BACKEND_NAMES:
        raise ValueError(f"YITONG_SM2_BACKEND must be one of {', '.join(_BACKEND_NAMES)}, not {name!r}")
    if name == "auto":
        try:
            return _load("native")
        except BackendUnavailable:
            return _load("pure")
    return _load(name)


def available_backends() -> dict[str, str]:
    """{name: version or the reason it cannot load} for both backends."""
    report = {}
    for name in ("native", "pure"):
        try:
            report[name] = _load(name).version
        except BackendUnavailable as exc:
            report[name] = f"unavailable: {exc}"
    return report


class SM2PublicKey:
    """An SM2 public key: a validated point on the SM2 curve."""

    algorithm = "sm2"

    def __init__(self, x: int, y: int, backend: str | None = None) -> None:
        curve.check_point(x, y)
        self._x, self._y = x, y
        self._backend = get_backend(backend)
        self._handle = None

    @property
    def backend_name(self) -> str:
        return self._backend.name

    def _h(self):
        if self._handle is None:
            self._handle = self._backend.load_public(self._x, self._y)
        return self._handle

    def with_backend(self, backend: str) -> SM2PublicKey:
        return SM2PublicKey(self._x, self._y, backend=backend)

    def point(self) -> tuple[int, int]:
        return self._x, self._y

    def verify(self, signature: bytes, data: bytes, uid: bytes = DEFAULT_UID) -> None:
        """Raise :class:`keys.InvalidSignature` unless ``signature`` is valid for ``data``."""
        curve.decode_signature(signature)  # strict DER and ranges, identically for both backends
        if not self._backend.verify(self._h(), uid, data, signature):
            raise InvalidSignature("SM2 signature does not verify")

    def encrypt(self, plaintext: bytes, *, der: bool = False) -> bytes:
        """SM2 public-key encryption; C1C3C2 raw (04 ‖ x ‖ y ‖ C3 ‖ C2) or, with der, SM2Cipher."""
        raw = self._backend.encrypt(self._h(), plaintext)
        return curve.cipher_raw_to_der(raw) if der else raw

    def public_bytes_der(self) -> bytes:
        return encoding.spki_der(self._x, self._y)

    def public_bytes_pem(self) -> bytes:
        return encoding.public_to_pem(self._x, self._y)

    def public_bytes_raw(self) -> bytes:
        """Uncompressed point 04 ‖ x ‖ y."""
        return curve.encode_point(self._x, self._y)

    @classmethod
    def from_pem(cls, data: bytes, backend: str | None = None) -> SM2PublicKey:
        return cls(*encoding.public_from_pem(data), backend=backend)

    @classmethod
    def from_der(cls, data: bytes, backend: str | None = None) -> SM2PublicKey:
        return cls(*encoding.point_from_spki(data), backend=backend)

    @classmethod
    def from_raw(cls, data: bytes, backend: str | None = None) -> SM2PublicKey:
        return cls(*curve.decode_point(data), backend=backend)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SM2PublicKey) and other.point() == self.point()

    def __hash__(self) -> int:
        return hash(("sm2", self._x, self._y))

    def __repr__(self) -> str:
        return f"<SM2PublicKey x={self._x:064x}>"


class SM2PrivateKey:
    """An SM2 private key. The scalar never leaves except through ``private_bytes_*``."""

    algorithm = "sm2"

    def __init__(self, d: int, public_point: tuple[int, int] | None = None, backend: str | None = None) -> None:
        curve.check_scalar(d)
        self._backend = get_backend(backend)
        derived = self._backend.public_point(d)
        if public_point is not None and tuple(public_point) != derived:
            raise InvalidKey("SM2 public key does not match the private key")
        self._d = d
        self._public = SM2PublicKey(*derived, backend=self._backend.name)
        self._handle = None

    @classmethod
    def generate(cls, backend: str | None = None) -> SM2PrivateKey:
        """A new key with d drawn uniformly from [1, n-2] by the OS CSPRNG."""
        return cls(secrets.randbelow(curve.N - 2) + 1, backend=backend)

    @property
    def backend_name(self) -> str:
        return self._backend.name

    def with_backend(self, backend: str) -> SM2PrivateKey:
        return SM2PrivateKey(self._d, self._public.point(), backend=backend)

    def _h(self):
        if self._handle is None:
            self._handle = self._backend.load_private(self._d, *self._public.point())
        return self._handle

    def public_key(self) -> SM2PublicKey:
        return self._public

    def sign(self, data: bytes, uid: bytes = DEFAULT_UID) -> bytes:
        """DER SEQUENCE{r, s} over e = SM3(Z ‖ data), Z from ``uid`` and this key's point."""
        return self._backend.sign(self._h(), uid, data)

    def decrypt(self, ciphertext: bytes, *, der: bool = False) -> bytes:
        """Inverse of :meth:`SM2PublicKey.encrypt`; raises :class:`keys.DecryptionError`."""
        raw = curve.cipher_der_to_raw(ciphertext) if der else ciphertext
        return self._backend.decrypt(self._h(), raw)

    def private_bytes_der(self) -> bytes:
        """Unencrypted PKCS#8 DER (for wrapping by the keystore; never write it to disk)."""
        return encoding.pkcs8_der(self._d, *self._public.point())

    def private_bytes_pem(self, password: bytes | None = None) -> bytes:
        return encoding.private_to_pem(self._d, *self._public.point(), password=password)

    @classmethod
    def from_pem(cls, data: bytes, password: bytes | None = None, backend: str | None = None) -> SM2PrivateKey:
        d, point = encoding.private_from_pem(data, password)
        return cls(d, point, backend=backend)

    @classmethod
    def from_der(cls, data: bytes, backend: str | None = None) -> SM2PrivateKey:
        d, point = encoding.private_from_der(data)
        return cls(d, point, backend=backend)

    def __repr__(self) -> str:
        return f"<SM2PrivateKey public={self._public!r} backend={self.backend_name}>"


__all__ = [
    "DEFAULT_UID",
    "SM2PrivateKey",
    "SM2PublicKey",
    "available_backends",
    "get_backend",
]
