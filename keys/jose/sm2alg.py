"""The SM2 JWS algorithm and SM2 JWKs, registered with joserfc on import (see keys.jose)."""

from __future__ import annotations

import functools
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc import errors as joserfc_errors
from joserfc import jws as joserfc_jws
from joserfc._rfc7517.models import NativeKeyBinding  # the binding base class has no public name
from joserfc.jwk import ECKey, JWKRegistry, KeySet, RSAKey
from joserfc.jws import JWSRegistry

from keys.asymmetric import PrivateKey, PublicKey, load_private_key, load_public_key
from keys.errors import InvalidKey, InvalidSignature
from keys.jose.common import _MIN_RSA_BITS, SM2_ALG, SM2_CRV, _member_uint, _uint_b64
from keys.sm2 import SM2PrivateKey, SM2PublicKey, curve, get_backend

# -- joserfc integration ---------------------------------------------------------------------------


def _raw_signature(private_key: PrivateKey, data: bytes) -> bytes:
    """The JWS Signature value: r ‖ s for ES256 and SM2 (RFC 7518 §3.4), the PKCS#1 block for RS256."""
    signature = private_key.sign(data)
    if private_key.algorithm == "sm2":
        r, s = curve.decode_signature(signature)
    elif private_key.algorithm == "p256":
        r, s = decode_dss_signature(signature)
    else:
        return signature
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _sm2_verify(public_key: SM2PublicKey, data: bytes, signature: bytes) -> bool:
    if len(signature) != 64:
        return False
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    if not (1 <= r < curve.N and 1 <= s < curve.N):
        return False
    try:
        public_key.verify(curve.encode_signature(r, s), data)
    except InvalidSignature:
        return False
    return True


class _SM2Binding(NativeKeyBinding):
    """How :class:`SM2JWK` converts between our SM2 keys and JWK dicts / PEM."""

    @classmethod
    def convert_raw_key_to_dict(cls, raw_key, private: bool) -> dict:
        public = raw_key.public_key() if isinstance(raw_key, SM2PrivateKey) else raw_key
        x, y = public.point()
        return {"crv": SM2_CRV, "x": _uint_b64(x, 32), "y": _uint_b64(y, 32)}  # "d" is never exported

    @classmethod
    def import_from_dict(cls, value: dict) -> SM2PublicKey:
        if value.get("crv") != SM2_CRV:
            raise joserfc_errors.InvalidKeyCurveError(f"not an SM2 JWK: crv {value.get('crv')!r}")
        if "d" in value:
            raise joserfc_errors.InvalidKeyTypeError("private SM2 JWKs are not imported; keys live in the keystore")
        try:
            return SM2PublicKey(_member_uint(value, "x", 32), _member_uint(value, "y", 32))
        except InvalidKey as exc:
            raise joserfc_errors.InvalidKeyTypeError(str(exc)) from exc

    @classmethod
    def import_from_bytes(cls, value: bytes, password=None):
        try:
            key = load_public_key(value)
        except InvalidKey:
            try:
                key = load_private_key(value, _password_bytes(password))
            except InvalidKey as exc:
                raise joserfc_errors.InvalidKeyTypeError(f"not an SM2 key: {exc}") from exc
        if key.algorithm != "sm2":
            raise joserfc_errors.InvalidKeyTypeError("not an SM2 key")
        return key

    @staticmethod
    def as_bytes(key, encoding=None, private: bool = False, password=None) -> bytes:
        if not private:
            return key.public_key.public_bytes_der() if encoding == "DER" else key.public_key.public_bytes_pem()
        if encoding == "DER":
            if password is not None:
                raise ValueError("encrypted SM2 private keys are exported as PEM only")
            return key.private_key.private_bytes_der()
        return key.private_key.private_bytes_pem(_password_bytes(password))


def _password_bytes(password: str | bytes | None) -> bytes | None:
    return password.encode("utf-8") if isinstance(password, str) else password


class SM2JWK(ECKey):
    """A joserfc key (``kty`` EC, ``crv`` SM2) holding one of our SM2 keys."""

    binding = _SM2Binding

    @property
    def is_private(self) -> bool:
        return isinstance(self.raw_value, SM2PrivateKey)

    @property
    def public_key(self) -> SM2PublicKey:
        return self.raw_value.public_key() if self.is_private else self.raw_value

    @property
    def private_key(self) -> SM2PrivateKey | None:
        return self.raw_value if self.is_private else None

    @property
    def curve_name(self) -> str:
        return SM2_CRV

    @property
    def curve_key_size(self) -> int:
        return 256

    def exchange_derive_key(self, key) -> bytes:
        raise joserfc_errors.InvalidExchangeKeyError("SM2 keys here are for signatures only")

    def as_dict(self, private: bool = False, **params: Any) -> dict:
        if private:
            raise ValueError("SM2 private keys are never exported as JWK")
        return super().as_dict(private=False, **params)

    @classmethod
    def import_key(cls, value, parameters=None, password=None) -> SM2JWK:
        if isinstance(value, (SM2PrivateKey, SM2PublicKey)):
            return cls(value, value, parameters)
        return super().import_key(value, parameters, password)


class _ECKeyOrSM2(ECKey):
    """Stands in for ECKey in joserfc's JWKRegistry: ``crv`` SM2 imports as :class:`SM2JWK`.

    Without it joserfc raises a bare KeyError on an SM2 JWK, failing a whole JWKS import. It
    never has instances of its own: every constructor hands back a plain ECKey or SM2JWK.
    """

    def __new__(cls, *args, **kwargs):
        return ECKey(*args, **kwargs)

    @classmethod
    def import_key(cls, value, parameters=None, password=None):
        is_sm2 = isinstance(value, dict) and value.get("crv") == SM2_CRV
        if is_sm2 or isinstance(value, (SM2PrivateKey, SM2PublicKey)):
            return SM2JWK.import_key(value, parameters, password)
        try:
            return ECKey.import_key(value, parameters, password)
        except UnsupportedAlgorithm:  # cryptography knows no SM2 curve: a PEM/DER SM2 key lands here
            return SM2JWK.import_key(value, parameters, password)

    @classmethod
    def generate_key(cls, crv="P-256", parameters=None, private=True, auto_kid=False):
        return ECKey.generate_key(crv, parameters, private, auto_kid)


class SM2Algorithm(joserfc_jws.JWSAlgModel):
    """JWS ``alg`` "SM2": SM2 with SM3 and the default ID, signature r ‖ s (see the module docstring)."""

    name = SM2_ALG
    description = "SM2 signature over SM3(Z || M), default ID 1234567812345678, r || s"
    recommended = False  # never picked by default: a caller must ask for "SM2" by name
    key_type = "EC"
    algorithm_security = 128

    def check_key(self, key) -> None:
        super().check_key(key)  # use "sig", kty EC, the JWK's own alg if it has one
        if not isinstance(key, SM2JWK):
            raise joserfc_errors.InvalidKeyCurveError(f"Algorithm '{self.name}' needs an SM2 key")

    def sign(self, msg: bytes, key: SM2JWK) -> bytes:
        return _raw_signature(key.get_op_key("sign"), msg)

    def verify(self, msg: bytes, sig: bytes, key: SM2JWK) -> bool:
        return _sm2_verify(key.get_op_key("verify"), msg, sig)


def _register_with_joserfc() -> None:
    JWSRegistry.register(SM2Algorithm())
    KeySet.algorithm_keys[SM2_ALG] = ["EC"]
    JWKRegistry.key_types["EC"] = _ECKeyOrSM2


_register_with_joserfc()


def joserfc_key(key: PublicKey | PrivateKey, kid: str | None = None):
    """A joserfc key for one of our software keys (to hand to joserfc or Authlib)."""
    parameters = {"kid": kid} if kid else None
    if isinstance(key, (SM2PrivateKey, SM2PublicKey)):
        return SM2JWK.import_key(key, parameters)
    native = getattr(key, "cryptography_key", None)
    if native is None:
        raise InvalidKey(f"{key!r} cannot be handed to joserfc (no software key material)")
    return (ECKey if key.algorithm == "p256" else RSAKey).import_key(native, parameters)


@functools.lru_cache(maxsize=128)
def _sm2_public_key(x: int, y: int, backend: str) -> SM2PublicKey:
    # Cached because the native handle costs as much again as the verification it serves.
    return SM2PublicKey(x, y, backend=backend)


def _joserfc_public(jwk: dict, implied: str):
    """A joserfc verification key from a checked public JWK, with only its key members."""
    if implied == SM2_ALG:
        point = _member_uint(jwk, "x", 32), _member_uint(jwk, "y", 32)
        return SM2JWK(_sm2_public_key(*point, get_backend().name), None)
    try:
        if implied == "ES256":
            _member_uint(jwk, "x", 32), _member_uint(jwk, "y", 32)
            key = ECKey.import_key({"kty": "EC", "crv": "P-256", "x": jwk["x"], "y": jwk["y"]})
        else:
            _member_uint(jwk, "n"), _member_uint(jwk, "e")
            key = RSAKey.import_key({"kty": "RSA", "n": jwk["n"], "e": jwk["e"]})
            if key.public_key.key_size < _MIN_RSA_BITS:
                raise InvalidKey(f"RSA keys under {_MIN_RSA_BITS} bits are refused")
    except (ValueError, joserfc_errors.JoseError) as exc:  # point off the curve, bad modulus...
        raise InvalidKey(f"not a valid {implied} public key: {exc}") from exc
    return key
