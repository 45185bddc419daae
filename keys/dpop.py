"""DPoP proof checking (RFC 9449 §4.3), shared by the IdP token endpoint and resource servers.

:func:`verify_proof` runs every §4.3 check and raises :class:`DpopError` naming the one that
failed; the IdP answers ``invalid_dpop_proof`` (RFC 9449 §5, §7.1), or ``use_dpop_nonce`` with
a fresh ``DPoP-Nonce`` when the error is a :class:`DpopNonceError` (§8, §9). Binding the access
token to the key (``cnf.jkt`` equals :attr:`DpopProof.jkt`, §6.1) is the resource server's
comparison: this module only proves who signed the proof.

Proofs are signed with ES256, RS256 or SM2 (see keys/jose/sm2alg.py), never ``none`` or HS* (§4.3 item
5); :func:`proof_for` mints them for tests and our own clients.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from keys import jose
from keys.asymmetric import PrivateKey
from keys.errors import InvalidKey, KeysError

DPOP_TYP = "dpop+jwt"
DEFAULT_ALGORITHMS = ("ES256", "RS256", jose.SM2_ALG)
FUTURE_LEEWAY_SECONDS = 30  # client clocks run ahead; RFC 9449 §11.1 leaves the window to the server
MAX_JTI_LENGTH = 256  # a bound on what an unauthenticated client can make us store
_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")


class DpopError(KeysError):
    """A DPoP proof is refused; ``error`` is the OAuth error code to answer with."""

    error = "invalid_dpop_proof"


class DpopNonceError(DpopError):
    """The server requires a nonce and the proof lacks it or has a stale one (RFC 9449 §8)."""

    error = "use_dpop_nonce"


@dataclass(frozen=True)
class DpopProof:
    jkt: str  # RFC 7638 SHA-256 thumbprint of ``jwk``: what cnf.jkt binds to (RFC 9449 §6.1)
    jti: str
    iat: int
    jwk: dict


# -- htu normalisation (RFC 3986 §6.2.2, §6.2.3) ---------------------------------------------------


def _normalize_percent(path: str) -> str:
    """Uppercase percent-encodings and decode those of unreserved characters (§6.2.2.1–2)."""

    def fix(match: re.Match) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else f"%{match.group(1).upper()}"

    return _PERCENT.sub(fix, path)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4, the step §6.2.2.3 applies."""
    output: list[str] = []
    while path:
        if path.startswith(("../", "./")):
            path = path[path.index("/") + 1 :]
        elif path.startswith("/./") or path == "/.":
            path = "/" + path[3:]
        elif path.startswith("/../") or path == "/..":
            path = "/" + path[4:]
            if output:
                output.pop()
        elif path in (".", ".."):
            path = ""
        else:
            end = path.find("/", 1)
            end = len(path) if end == -1 else end
            output.append(path[:end])
            path = path[end:]
    return "".join(output)


def normalize_htu(url: str) -> str:
    """``scheme://host[:port]/path`` of an http(s) URI, normalised as RFC 9449 §4.3 advises:
    case of scheme and host, default port, percent-encoding and dot segments; query and
    fragment dropped (§4.3 item 9). Raises :class:`DpopError` for anything else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except (ValueError, TypeError, AttributeError) as exc:
        raise DpopError(f"{url!r} is not a valid URI") from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise DpopError(f"{url!r} is not an absolute http(s) URI")
    if "@" in parts.netloc:
        raise DpopError(f"{url!r} carries user information, which http(s) URIs must not (RFC 9110 §4.2.4)")
    host = parts.hostname  # urlsplit lowercases it
    host = f"[{host}]" if ":" in host else host
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    return f"{scheme}://{netloc}{_remove_dot_segments(_normalize_percent(parts.path)) or '/'}"


# -- the checks ------------------------------------------------------------------------------------


def _access_token_hash(access_token: str) -> str:
    """ath: base64url(SHA-256(ASCII(access token))) (RFC 9449 §4.2)."""
    try:
        return jose.b64url(hashlib.sha256(access_token.encode("ascii")).digest())
    except UnicodeEncodeError as exc:
        raise DpopError("the access token is not ASCII, so no proof can be bound to it") from exc


def _check_header(proof: str, algorithms: Sequence[str]) -> dict:
    """§4.3 items 2, 4, 5 and 7: one well-formed JWT, typ dpop+jwt, an allowed alg, a public jwk."""
    if not isinstance(proof, str) or not proof:
        raise DpopError("the DPoP header is missing or empty")
    if "," in proof or " " in proof.strip():
        raise DpopError("more than one DPoP proof was sent (RFC 9449 §4.3 item 1)")
    try:
        header = jose.decode_header(proof.strip())
    except jose.InvalidJWS as exc:
        raise DpopError(f"the DPoP proof is not a well-formed JWT: {exc}") from exc
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower().removeprefix("application/") != DPOP_TYP:
        raise DpopError(f"the proof's typ is {typ!r}, not {DPOP_TYP!r}")
    alg = header["alg"]
    if alg not in algorithms:
        raise DpopError(f"alg {alg!r} is not accepted for DPoP proofs (allowed: {', '.join(algorithms)})")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict):
        raise DpopError("the proof has no jwk header with the public key")
    private = sorted(jose.PRIVATE_JWK_MEMBERS & jwk.keys())
    if private:
        raise DpopError(f"the jwk header holds a private key (members {private}); it must be public only")
    return header


def _check_time(claims: dict, now: float, max_age_seconds: float, future_leeway: float) -> int:
    """§4.3 item 11 with §11.1: iat within the acceptance window."""
    iat = claims.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, (int, float)):
        raise DpopError("the proof has no numeric iat claim")
    if iat > now + future_leeway:
        raise DpopError(f"the proof was issued {int(iat - now)} s in the future")
    if now - iat > max_age_seconds:
        raise DpopError(f"the proof is {int(now - iat)} s old (at most {int(max_age_seconds)} s accepted)")
    return int(iat)


def _check_request(claims: dict, method: str, url: str, access_token: str | None, nonce: str | None) -> None:
    """§4.3 items 8, 9, 10 and 12: htm, htu, nonce and ath match this request."""
    if claims.get("htm") != method:
        raise DpopError(f"htm {claims.get('htm')!r} does not match the request method {method!r}")
    htu = claims.get("htu")
    if not isinstance(htu, str) or normalize_htu(htu) != normalize_htu(url):
        raise DpopError(f"htu {htu!r} does not match the request URI {normalize_htu(url)!r}")
    if nonce is not None:
        sent = claims.get("nonce")
        if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), nonce.encode()):
            raise DpopNonceError(
                "the proof lacks the server's current DPoP nonce"
                if sent is None
                else "the proof's nonce is not the server's current DPoP nonce"
            )
    if access_token is not None:
        ath = claims.get("ath")
        if not isinstance(ath, str):
            raise DpopError("an access token was presented but the proof has no ath claim")
        if not hmac.compare_digest(ath.encode(), _access_token_hash(access_token).encode()):
            raise DpopError("the proof's ath is not the hash of the presented access token")


def verify_proof(
    proof: str,
    *,
    method: str,
    url: str,
    replay_cache,
    access_token: str | None = None,
    nonce: str | None = None,
    now: float | None = None,
    max_age_seconds: float = 300,
    algorithms: Sequence[str] = DEFAULT_ALGORITHMS,
    future_leeway_seconds: float = FUTURE_LEEWAY_SECONDS,
) -> DpopProof:
    """Check a DPoP proof against this request (RFC 9449 §4.3) and remember its jti.

    ``replay_cache`` is a :class:`keys.runtime.ReplayCache`; the jti is recorded last, after
    every other check passed, so a refused proof never uses up an entry.
    """
    jose.check_algorithms(algorithms)  # refuses none/HS* however the caller is configured
    header = _check_header(proof, algorithms)
    try:
        _header, claims = jose.verify_with_jwk(proof.strip(), header["jwk"], algorithms)
    except jose.InvalidJWS as exc:
        raise DpopError(f"the proof's signature is refused: {exc}") from exc
    now = time.time() if now is None else now
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
        raise DpopError(f"the proof needs a jti claim: a string of 1 to {MAX_JTI_LENGTH} characters")
    iat = _check_time(claims, now, max_age_seconds, future_leeway_seconds)
    _check_request(claims, method, url, access_token, nonce)
    jkt = jose.jwk_thumbprint(header["jwk"])
    # Remember it for as long as some clock reading could still accept the same iat.
    if not replay_cache.first_use(f"{jkt}:{jti}", ttl_seconds=max_age_seconds + future_leeway_seconds):
        raise DpopError("the proof's jti was already used: a replayed proof (RFC 9449 §11.1)")
    return DpopProof(jkt=jkt, jti=jti, iat=iat, jwk=dict(header["jwk"]))


def proof_for(
    private_key: PrivateKey,
    jwk: dict | None,
    method: str,
    url: str,
    access_token: str | None = None,
    nonce: str | None = None,
    *,
    iat: int | None = None,
) -> str:
    """A DPoP proof JWT (RFC 9449 §4.2) for one request; ``jwk`` defaults to the key's public JWK."""
    if jwk is None:
        jwk = jose.public_jwk(private_key.public_key(), use=None)
    if jose.PRIVATE_JWK_MEMBERS & jwk.keys():
        raise InvalidKey("the jwk header of a DPoP proof must hold the public key only")
    claims = {
        "jti": secrets.token_urlsafe(16),
        "htm": method,
        "htu": url.split("?", 1)[0].split("#", 1)[0],
        "iat": int(time.time()) if iat is None else iat,
    }
    if access_token is not None:
        claims["ath"] = _access_token_hash(access_token)
    if nonce is not None:
        claims["nonce"] = nonce
    return jose.sign_compact({"typ": DPOP_TYP, "jwk": jwk}, claims, private_key)
