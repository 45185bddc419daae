"""DER/PEM encodings of SM2 keys: SubjectPublicKeyInfo and PKCS#8 (RFC 5480 / RFC 5915 shape).

An SM2 key is an ``id-ecPublicKey`` key whose namedCurve is 1.2.156.10197.1.301, exactly as
OpenSSL 3 and BouncyCastle write it. On reading we also accept the SEC1 "EC PRIVATE KEY" form
(``openssl ecparam -genkey -name SM2``) and the algorithm OID 1.2.156.10197.1.301 used by some
older GmSSL versions in place of id-ecPublicKey.
"""

from __future__ import annotations

from asn1crypto import keys as asn1_keys
from asn1crypto import pem

from keys import oids
from keys.errors import InvalidKey
from keys.pkcs8 import decrypt_pkcs8, encrypt_pkcs8
from keys.sm2 import curve

_CURVE_PARAMS = ("named", "sm2p256v1")


def spki_der(x: int, y: int) -> bytes:
    return asn1_keys.PublicKeyInfo(
        {
            "algorithm": {"algorithm": "ec", "parameters": _CURVE_PARAMS},
            "public_key": curve.encode_point(x, y),
        }
    ).dump()


def pkcs8_der(d: int, x: int | None, y: int | None) -> bytes:
    """PKCS#8 PrivateKeyInfo; the public key is included when given (OpenSSL includes it)."""
    inner = {"version": "ecPrivkeyVer1", "private_key": d}
    if x is not None and y is not None:
        inner["public_key"] = curve.encode_point(x, y)
    return asn1_keys.PrivateKeyInfo(
        {
            "version": 0,
            "private_key_algorithm": {"algorithm": "ec", "parameters": _CURVE_PARAMS},
            "private_key": asn1_keys.ECPrivateKey(inner),
        }
    ).dump()


def _check_curve_params(params) -> None:
    if params.name != "named" or params.chosen.dotted != oids.SM2_CURVE:
        raise InvalidKey("not an SM2 key (the curve is not 1.2.156.10197.1.301)")


def point_from_spki(der: bytes) -> tuple[int, int]:
    try:
        info = asn1_keys.PublicKeyInfo.load(der, strict=True)
        algorithm = info["algorithm"]
        algo_oid = algorithm["algorithm"].dotted
        if algo_oid == oids.SM2_CURVE:
            pass  # old GmSSL: the curve OID as the algorithm
        elif algo_oid == "1.2.840.10045.2.1":
            _check_curve_params(algorithm["parameters"])
        else:
            raise InvalidKey(f"not an SM2 public key (algorithm {algo_oid})")
        point = bytes(info["public_key"].contents[1:])  # skip the unused-bits octet
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidKey("not a valid SubjectPublicKeyInfo") from exc
    return curve.decode_point(point)


def _from_ec_private_key(ec: asn1_keys.ECPrivateKey) -> tuple[int, tuple[int, int] | None]:
    d = ec["private_key"].native
    public = ec["public_key"]
    point = None
    if public.native is not None:
        point = curve.decode_point(bytes(public.native))
    return d, point


def private_from_der(der: bytes) -> tuple[int, tuple[int, int] | None]:
    """(d, (x, y) or None) from PKCS#8 or SEC1 DER."""
    try:
        info = asn1_keys.PrivateKeyInfo.load(der, strict=True)
        algorithm = info["private_key_algorithm"]
        algo_oid = algorithm["algorithm"].dotted
        if algo_oid == "1.2.840.10045.2.1":
            _check_curve_params(algorithm["parameters"])
        elif algo_oid != oids.SM2_CURVE:
            raise InvalidKey(f"not an SM2 private key (algorithm {algo_oid})")
        ec = asn1_keys.ECPrivateKey.load(info["private_key"].contents)
        return _from_ec_private_key(ec)
    except InvalidKey:
        raise
    except (ValueError, TypeError, KeyError):
        pass
    try:
        ec = asn1_keys.ECPrivateKey.load(der, strict=True)
        params = ec["parameters"]
        if params.native is not None:
            _check_curve_params(params)
        return _from_ec_private_key(ec)
    except InvalidKey:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidKey("not an SM2 private key in PKCS#8 or SEC1 DER") from exc


def unarmor(data: bytes) -> tuple[str, bytes]:
    """(PEM label, DER); DER input is passed through with label ''."""
    if pem.detect(data):
        try:
            label, _headers, der = pem.unarmor(data)
        except ValueError as exc:
            raise InvalidKey("malformed PEM") from exc
        return label, der
    return "", data


def private_from_pem(data: bytes, password: bytes | None) -> tuple[int, tuple[int, int] | None]:
    label, der = unarmor(data)
    if label == "ENCRYPTED PRIVATE KEY":
        if not password:
            raise InvalidKey("the private key is encrypted: a password is needed")
        der = decrypt_pkcs8(der, password)
    elif label not in ("PRIVATE KEY", "EC PRIVATE KEY", ""):
        raise InvalidKey(f"expected a private key PEM, got {label!r}")
    return private_from_der(der)


def private_to_pem(d: int, x: int, y: int, password: bytes | None = None) -> bytes:
    der = pkcs8_der(d, x, y)
    if password:
        return pem.armor("ENCRYPTED PRIVATE KEY", encrypt_pkcs8(der, password))
    return pem.armor("PRIVATE KEY", der)


def public_from_pem(data: bytes) -> tuple[int, int]:
    label, der = unarmor(data)
    if label not in ("PUBLIC KEY", ""):
        raise InvalidKey(f"expected a PUBLIC KEY PEM, got {label!r}")
    return point_from_spki(der)


def public_to_pem(x: int, y: int) -> bytes:
    return pem.armor("PUBLIC KEY", spki_der(x, y))



