"""JOSE for our keys: JWKs (RFC 7517/7518 §6), thumbprints (RFC 7638), compact JWS/JWT (RFC
7515/7519) with ES256, RS256 and SM2-with-SM3, and the claims checks every verifier needs.

The IdP signs ID tokens and RFC 9068 access tokens with :func:`sign_jwt`; seal/ and the IdP
itself verify them offline with :func:`verify_jwt` against the published JWKS (:func:`jwks`).

The SM2 JWS algorithm
---------------------
No IANA "alg" exists for SM2 (nor a COSE one; draft-dang-webauthn-sm2-00, "Using SM2 with JOSE
and COSE", which would have registered the curve as "SM2", expired unadopted in 2022). What
Chinese JWT code emits, as found in public repositories:

- ``"SM2"`` — the java-jwt ``Algorithm`` subclasses of yingzhuo/turbocharger (hutool SM2) and
  yingzhuo/bayonet (BouncyCastle ``SM2Signer``): ``super("SM2", "SM3withSM2")``, and other
  java-jwt samples (``new SM2Algorithm("SM2", ...)``); all of them put DER in the signature;
- ``"SM3WithSM2"`` (a Tencent Kona sample), ``"SM3withSM2"``/``"SM3WITHSM2"`` — the JCA name
  reused as alg, capitalised differently from project to project, though ``alg`` is
  case-sensitive (RFC 7515 §4.1.1); hutool's JWT signers pass unknown JCA names through as alg;
- ``"GmSM2"`` — deatil/go-jwt-gm, the one found that signs raw r ‖ s (64 bytes).

We use **"SM2"**: the most common choice, the curve's own name (``"crv": "SM2"``), and — like
``EdDSA`` (RFC 8037 §3.1) — the name of a signature scheme that already fixes its hash: GB/T
32918.2 signs e = SM3(Z ‖ M), so a hash suffix would add nothing. Keys are
``{"kty": "EC", "crv": "SM2", "x", "y"}`` with 32-byte big-endian coordinates.

The signature is SM2 over SM3(Z ‖ M) with the default ID ``1234567812345678`` (GM/T 0009-2012
§10), M = ASCII(BASE64URL(header) ‖ "." ‖ BASE64URL(payload)), encoded as the fixed-width
r ‖ s (64 bytes) exactly as ES256 is (RFC 7518 §3.4) — NOT the DER SEQUENCE{r, s} that the
java-jwt based signers above emit, so their tokens need a DER → r ‖ s conversion to verify here.

joserfc (which Authlib 1.9 uses for its JWTs) learns the algorithm and the key type on import
of this module: :class:`SM2Algorithm` joins ``JWSRegistry`` and ``"crv": "SM2"`` JWKs import as
:class:`SM2JWK`, so ``joserfc.jws``/``joserfc.jwt`` — and Authlib's ID-token code given
``joserfc_key(sm2_key)`` — sign and verify SM2 like any other algorithm.

Refused outright, whatever a caller allows: ``alg: none`` and every HS* algorithm (an HMAC
"verified" with a public key's bytes is the classic key-confusion forgery), ``crit`` and the
RFC 7797 ``b64`` header (we implement no extensions), and keys whose type does not fit the alg.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc import errors as joserfc_errors
from joserfc import jws as joserfc_jws
from joserfc._rfc7517.models import NativeKeyBinding  # the binding base class has no public name
from joserfc.jwk import ECKey, JWKRegistry, KeySet, RSAKey
from joserfc.jws import JWSRegistry

from keys.asymmetric import PrivateKey, PublicKey, load_private_key, load_public_key
from keys.digests import digest
from keys.errors import InvalidKey, InvalidSignature, KeysError
from keys.sm2 import SM2PrivateKey, SM2PublicKey, curve, get_backend

SM2_ALG = "SM2"
SM2_CRV = "SM2"
SUPPORTED_ALGORITHMS = ("ES256", "RS256", SM2_ALG)
_ALG_BY_KEY = {"p256": "ES256", "rsa2048": "RS256", "rsa3072": "RS256", "sm2": SM2_ALG}
PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})  # RFC 7518 §6.2.2, §6.3.2, §6.4
_MAX_HEADER_B64 = 4096  # joserfc's 512 is too small for a DPoP header carrying an RSA-3072 jwk
_MIN_RSA_BITS = 2048


class JoseError(KeysError):
    """A JOSE object or its claims were refused; the message says why."""


class InvalidJWS(JoseError, InvalidSignature):
    """The JWS itself is refused: malformed, algorithm not acceptable, no fitting key, bad signature."""


class InvalidClaims(JoseError):
    """The signature is good but the claims are not acceptable (iss, aud, exp, nbf, iat)."""


# -- base64url and JWK members -------------------------------------------------------------------


def b64url(data: bytes) -> str:
    """BASE64URL without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict inverse of :func:`b64url`: no padding, no '+' or '/', no stray bits."""
    if not isinstance(text, str) or "=" in text or len(text) % 4 == 1:
        raise ValueError("not base64url without padding")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url(data) != text:  # non-canonical trailing bits would give two spellings of one value
        raise ValueError("not canonical base64url")
    return data


def _uint_b64(value: int, length: int | None = None) -> str:
    length = length or max(1, (value.bit_length() + 7) // 8)
    return b64url(value.to_bytes(length, "big"))


def _member_uint(jwk: dict, name: str, length: int | None = None) -> int:
    try:
        raw = b64url_decode(jwk[name])
    except (KeyError, ValueError, binascii.Error) as exc:
        raise InvalidKey(f"JWK member {name!r} is missing or not base64url") from exc
    if length is not None and len(raw) != length:
        raise InvalidKey(f"JWK member {name!r} must be {length} bytes, not {len(raw)}")
    return int.from_bytes(raw, "big")


# -- JWKs ------------------------------------------------------------------------------------------


def alg_for_key(key: PublicKey | PrivateKey) -> str:
    """The JWS alg our key of this algorithm signs with: ES256, RS256 or SM2."""
    try:
        return _ALG_BY_KEY[key.algorithm]
    except (AttributeError, KeyError) as exc:
        raise InvalidKey(f"no JWS algorithm for key {key!r}") from exc


def public_jwk(public_key: PublicKey, kid: str | None = None, use: str | None = "sig") -> dict:
    """The public JWK of one of our keys (RFC 7518 §6.2/§6.3; SM2 as ``"crv": "SM2"``)."""
    alg = alg_for_key(public_key)
    if isinstance(public_key, SM2PublicKey):
        x, y = public_key.point()
        jwk = {"kty": "EC", "crv": SM2_CRV, "x": _uint_b64(x, 32), "y": _uint_b64(y, 32)}
    else:
        native = serialization.load_der_public_key(public_key.public_bytes_der())
        if isinstance(native, ec.EllipticCurvePublicKey):
            numbers = native.public_numbers()
            jwk = {"kty": "EC", "crv": "P-256", "x": _uint_b64(numbers.x, 32), "y": _uint_b64(numbers.y, 32)}
        else:
            numbers = native.public_numbers()
            jwk = {"kty": "RSA", "n": _uint_b64(numbers.n), "e": _uint_b64(numbers.e)}
    jwk["alg"] = alg
    if use:
        jwk["use"] = use
    if kid:
        jwk["kid"] = kid
    return jwk


def _check_public_jwk(jwk: Any) -> str:
    """Shape checks shared by every JWK import; returns the alg the key's type implies."""
    if not isinstance(jwk, dict):
        raise InvalidKey("a JWK must be a JSON object")
    private = sorted(PRIVATE_JWK_MEMBERS & jwk.keys())
    if private:
        raise InvalidKey(f"the JWK holds private key members {private}; only public keys are accepted")
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if kty == "EC" and crv in ("P-256", SM2_CRV):
        implied = "ES256" if crv == "P-256" else SM2_ALG
    elif kty == "RSA":
        implied = "RS256"
    else:
        raise InvalidKey(f"unsupported JWK kty={kty!r} crv={crv!r} (EC P-256, EC SM2 and RSA only)")
    if "alg" in jwk and jwk["alg"] != implied:
        raise InvalidKey(f"the JWK says alg {jwk['alg']!r} but a {kty} {crv or ''} key signs {implied}".rstrip())
    return implied


def jwk_to_public_key(jwk: dict) -> PublicKey:
    """Our public key for a public JWK (inverse of :func:`public_jwk`); raises :class:`keys.InvalidKey`."""
    implied = _check_public_jwk(jwk)
    if implied == SM2_ALG:
        return SM2PublicKey(_member_uint(jwk, "x", 32), _member_uint(jwk, "y", 32))
    return load_public_key(_joserfc_public(jwk, implied).as_der())


def jwk_thumbprint(jwk: dict) -> str:
    """RFC 7638 §3 SHA-256 thumbprint: required members only, sorted, no whitespace, base64url."""
    kty = jwk.get("kty") if isinstance(jwk, dict) else None
    members = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}.get(kty)
    if members is None:
        raise InvalidKey(f"no thumbprint for JWK kty {kty!r} (EC and RSA only)")
    if not all(isinstance(jwk.get(name), str) for name in members):
        raise InvalidKey(f"a {kty} JWK needs string members {', '.join(members)}")
    canonical = json.dumps({name: jwk[name] for name in members}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def jwks(records: Iterable) -> dict:
    """``{"keys": [...]}`` for keystore records (anything with ``kid`` and ``public_key()``)."""
    return {"keys": [public_jwk(record.public_key(), record.kid) for record in records]}


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


# -- signing ---------------------------------------------------------------------------------------


def _json_b64(value: dict) -> str:
    return b64url(json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8"))


def sign_compact(header: dict, claims: dict, private_key: PrivateKey) -> str:
    """A compact JWS of ``claims`` under ``header`` (its ``alg`` is set from the key).

    Signs through the key's own ``sign`` (a software key, or a PKCS#11 one that never leaves
    its token), so it works for every custody the keystore offers.
    """
    alg = alg_for_key(private_key)
    if header.get("alg", alg) != alg:
        raise InvalidKey(f"a {private_key.algorithm} key signs {alg}, not {header['alg']}")
    signing_input = f"{_json_b64({'alg': alg, **header})}.{_json_b64(claims)}"
    return f"{signing_input}.{b64url(_raw_signature(private_key, signing_input.encode('ascii')))}"


def sign_jwt(claims: dict, private_key: PrivateKey, kid: str, typ: str = "JWT") -> str:
    """A signed JWT: ES256, RS256 or SM2 as the key dictates; ``kid`` names the key in our JWKS."""
    return sign_compact({"alg": alg_for_key(private_key), "kid": kid, "typ": typ}, claims, private_key)


# -- verification ----------------------------------------------------------------------------------


def check_algorithms(algorithms: Sequence[str]) -> None:
    """Refuse a caller's allow-list naming anything but ES256/RS256/SM2 (a configuration error)."""
    if isinstance(algorithms, str) or not algorithms:
        raise ValueError("algorithms must be a non-empty list of JWS alg names")
    bad = [alg for alg in algorithms if alg not in SUPPORTED_ALGORITHMS]
    if bad:
        raise ValueError(f"algorithms {bad} are not accepted here; choose from {', '.join(SUPPORTED_ALGORITHMS)}")


def decode_header(token: str) -> dict:
    """The protected header of a compact JWS, UNVERIFIED (for choosing a key); raises :class:`InvalidJWS`."""
    if not isinstance(token, str) or token.count(".") != 2:
        raise InvalidJWS("not a compact JWS (three base64url parts separated by '.')")
    segment = token.split(".", 1)[0]
    if len(segment) > _MAX_HEADER_B64:
        raise InvalidJWS(f"the JWS header is longer than {_MAX_HEADER_B64} characters")
    try:
        header = json.loads(b64url_decode(segment))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidJWS("the JWS header is not base64url JSON") from exc
    if not isinstance(header, dict) or not isinstance(header.get("alg"), str):
        raise InvalidJWS("the JWS header is not a JSON object with an alg")
    return header


def _check_header(header: dict, algorithms: Sequence[str]) -> str:
    alg = header["alg"]
    if alg.lower() == "none":
        raise InvalidJWS("alg 'none' (an unsigned token) is never accepted")
    if alg.upper().startswith("HS"):
        raise InvalidJWS(f"alg {alg!r} is refused: symmetric (HMAC) algorithms are never accepted")
    if alg not in SUPPORTED_ALGORITHMS:
        raise InvalidJWS(f"alg {alg!r} is not supported (only {', '.join(SUPPORTED_ALGORITHMS)})")
    if alg not in algorithms:
        raise InvalidJWS(f"alg {alg!r} is not allowed here (allowed: {', '.join(algorithms)})")
    if "crit" in header or "b64" in header:
        raise InvalidJWS("the JWS uses extensions ('crit'/'b64') that are not supported")
    return alg


def _verify_with(token: str, key, alg: str) -> dict:
    """Verify the signature with one joserfc key; the claims as a dict."""
    registry = JWSRegistry(algorithms=[alg], strict_check_header=False)
    registry.max_header_length = _MAX_HEADER_B64
    try:
        payload = joserfc_jws.deserialize_compact(token, key, registry=registry).payload
    except joserfc_errors.BadSignatureError as exc:
        raise InvalidJWS(f"the {alg} signature does not verify") from exc
    except (joserfc_errors.JoseError, ValueError) as exc:
        raise InvalidJWS(f"the JWS is refused: {exc.__class__.__name__}: {exc}") from exc
    try:
        claims = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidJWS("the JWS payload is not JSON") from exc
    if not isinstance(claims, dict):
        raise InvalidJWS("the JWT claims are not a JSON object")
    return claims


def verify_with_jwk(token: str, jwk: dict, algorithms: Sequence[str]) -> tuple[dict, dict]:
    """(header, claims) of a JWS signed by the key ``jwk`` (e.g. a DPoP proof's own jwk header)."""
    check_algorithms(algorithms)
    header = decode_header(token)
    alg = _check_header(header, algorithms)
    try:
        implied = _check_public_jwk(jwk)
        if implied != alg:
            raise InvalidJWS(f"alg {alg} does not fit a {jwk.get('kty')} {jwk.get('crv', '')} key".rstrip())
        key = _joserfc_public(jwk, implied)
    except InvalidKey as exc:
        raise InvalidJWS(f"the verification key is refused: {exc}") from exc
    return header, _verify_with(token, key, alg)


def _candidates(keys: list[dict], kid: str | None, alg: str) -> list[dict]:
    """The JWKS entries that may have signed: matching kid (if any), use sig, type fitting alg."""
    named = [k for k in keys if isinstance(k, dict) and (kid is None or k.get("kid") == kid)]
    if not named:
        raise InvalidJWS(f"no key with kid {kid!r} in the key set")
    fitting = []
    for jwk in named:
        try:
            fits = _check_public_jwk(jwk) == alg and jwk.get("use", "sig") == "sig"
        except InvalidKey as exc:
            if kid is not None:
                raise InvalidJWS(f"key {kid!r} is not usable: {exc}") from exc
            continue
        if fits:
            fitting.append(jwk)
    if not fitting:
        kinds = ", ".join(sorted({f"{k.get('kty')} {k.get('crv', '')}".strip() for k in named}))
        raise InvalidJWS(f"alg {alg} does not fit the key(s) for kid {kid!r} ({kinds})")
    return fitting


def verify_jwt(token: str, keys: list[dict] | dict, algorithms: Sequence[str]) -> tuple[dict, dict]:
    """(header, claims) of a JWT signed by one of ``keys`` (a JWKS's ``"keys"``) with an allowed alg.

    Keys come only from ``keys``: embedded ``jwk``/``jku``/``x5u``/``x5c`` headers are ignored.
    Validating the claims (:func:`check_claims`) and ``typ`` is the caller's business.
    """
    check_algorithms(algorithms)
    if isinstance(keys, dict):  # a whole JWKS passed by mistake is still unambiguous
        keys = keys.get("keys", [])
    header = decode_header(token)
    alg = _check_header(header, algorithms)
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise InvalidJWS("the kid header is not a string")
    failure: InvalidJWS | None = None
    for jwk in _candidates(keys, kid, alg):  # several only without a kid, or with duplicate kids
        try:
            return header, _verify_with(token, _joserfc_public(jwk, alg), alg)
        except (InvalidJWS, InvalidKey) as exc:
            failure = exc if isinstance(exc, InvalidJWS) else InvalidJWS(f"key {jwk.get('kid')!r}: {exc}")
    assert failure is not None
    raise failure


def half_hash(value: str, alg: str) -> str:
    """OIDC ``at_hash``/``c_hash`` (OIDC Core §3.1.3.6): left half of the alg's hash, base64url.

    The hash is the one the alg signs with: SHA-256 for ES256/RS256, SM3 for SM2. (Authlib's
    ``create_half_hash`` derives "sha2" from "SM2", finds no such hash and silently omits it.)
    """
    if alg not in SUPPORTED_ALGORITHMS:
        raise ValueError(f"no half hash for alg {alg!r}")
    hashed = digest("sm3" if alg == SM2_ALG else "sha256", value.encode("ascii"))
    return b64url(hashed[: len(hashed) // 2])


# -- claims ----------------------------------------------------------------------------------------


def _numeric_date(claims: dict, name: str, required: bool) -> float | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise InvalidClaims(f"the {name} claim is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidClaims(f"the {name} claim is not a NumericDate (RFC 7519 §2)")
    return float(value)


def check_claims(
    claims: dict, *, issuer: str, audience: str, now: float | datetime | None = None, leeway: float = 30
) -> None:
    """RFC 7519 §4.1 checks: iss equals ``issuer``, ``audience`` is in aud, exp in the future,
    nbf and iat not in the future (each with ``leeway`` seconds); raises :class:`InvalidClaims`."""
    if isinstance(now, datetime):
        now = now.timestamp()
    now = time.time() if now is None else float(now)
    if claims.get("iss") != issuer:
        raise InvalidClaims(f"iss {claims.get('iss')!r} is not the expected issuer {issuer!r}")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud
    if not isinstance(audiences, list) or audience not in audiences:
        raise InvalidClaims(f"the token is not for audience {audience!r} (aud is {aud!r})")
    exp = _numeric_date(claims, "exp", required=True)
    if now >= exp + leeway:
        raise InvalidClaims(f"the token expired at {int(exp)} ({int(now - exp)} s ago)")
    nbf = _numeric_date(claims, "nbf", required=False)
    if nbf is not None and now + leeway < nbf:
        raise InvalidClaims(f"the token is not valid before {int(nbf)}")
    iat = _numeric_date(claims, "iat", required=False)
    if iat is not None and now + leeway < iat:
        raise InvalidClaims(f"the token was issued in the future (iat {int(iat)})")
