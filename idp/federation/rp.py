"""The relying-party half of the broker: Yitong as an OpenID Connect client of an upstream.

Authorization code flow with PKCE (S256), ``state`` and ``nonce`` (OIDC Core §3.1; RFC 7636;
RFC 9700 §2.1). The upstream's metadata comes from its discovery document, whose ``issuer`` must
equal the configured issuer (OIDC Discovery §4.3); the ID token is checked with the upstream's
JWKS (keys/jose: signature with a key from ``jwks_uri`` only, alg ES256/RS256/SM2 — never ``none``
or an embedded key), ``iss``, ``aud`` (and ``azp`` when there are several audiences), ``exp``,
``iat`` and the ``nonce`` of this browser's request (OIDC Core §3.1.3.7).

HTTP is the standard library's (Authlib's OAuth client needs requests or httpx, which Yitong does
not depend on): timeouts, a 1 MiB limit on every answer, https with the system's CAs or a
configured CA file (http only for loopback upstreams, which the configuration enforces).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import ssl
import urllib.error
import urllib.request
from urllib.parse import urlencode

from idp.errors import IdpError
from idp.federation.upstreams import Upstream
from keys import jose
from keys.errors import KeysError

TIMEOUT = 10.0
MAX_BYTES = 1024 * 1024
ALGORITHMS = ["ES256", "RS256", "SM2"]


class UpstreamUnavailable(IdpError):
    """The upstream could not be reached or answered nonsense (the person may try again later)."""


class UpstreamRefused(IdpError):
    """The upstream's answer fails a check (token, signature, nonce...): never sign anyone in."""


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _context(upstream: Upstream) -> ssl.SSLContext | None:
    if not upstream.issuer.startswith("https://"):
        return None
    return ssl.create_default_context(cafile=upstream.ca_file) if upstream.ca_file else ssl.create_default_context()


def _request(url: str, what: str, **kwargs) -> urllib.request.Request:
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):  # never file: or custom schemes
        raise UpstreamUnavailable(f"{what}: not an http(s) URL")
    return urllib.request.Request(url, **kwargs)  # noqa: S310 (scheme checked above)


def _json(upstream: Upstream, request: urllib.request.Request, what: str) -> dict:
    """The JSON object answered (2xx), else :class:`UpstreamUnavailable` (or the OAuth error)."""
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT, context=_context(upstream)) as response:  # noqa: S310
            body = response.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        detail = exc.read(4096)
        try:
            error = json.loads(detail).get("error")
        except (ValueError, AttributeError):
            error = None
        if error:
            raise UpstreamRefused(f"{what}: the upstream answered {exc.code} {error}") from None
        raise UpstreamUnavailable(f"{what}: HTTP {exc.code}") from None
    except (OSError, ValueError) as exc:  # URLError, timeouts, TLS failures
        raise UpstreamUnavailable(f"{what}: {getattr(exc, 'reason', None) or exc}") from None
    if len(body) > MAX_BYTES:
        raise UpstreamUnavailable(f"{what}: the answer is larger than {MAX_BYTES} bytes")
    try:
        data = json.loads(body)
    except ValueError:
        raise UpstreamUnavailable(f"{what}: not JSON") from None
    if not isinstance(data, dict):
        raise UpstreamUnavailable(f"{what}: not a JSON object")
    return data


def metadata(upstream: Upstream) -> dict:
    """The upstream's discovery document, checked against the configured issuer."""
    url = f"{upstream.issuer}/.well-known/openid-configuration"
    document = _json(upstream, _request(url, "discovery", headers={"Accept": "application/json"}), "discovery")
    if document.get("issuer") != upstream.issuer:
        raise UpstreamRefused(f"discovery: issuer {document.get('issuer')!r} is not {upstream.issuer!r}")
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(document.get(name), str) or not document[name].startswith(("https://", "http://")):
            raise UpstreamUnavailable(f"discovery: no {name}")
    return document


def authorization_url(upstream: Upstream, document: dict, *, redirect_uri: str, state: str, nonce: str,
                      challenge: str) -> str:
    query = {"response_type": "code", "client_id": upstream.client_id, "redirect_uri": redirect_uri,
             "scope": upstream.scope, "state": state, "nonce": nonce, "code_challenge": challenge,
             "code_challenge_method": "S256"}
    endpoint = document["authorization_endpoint"]
    return endpoint + ("&" if "?" in endpoint else "?") + urlencode(query)


def redeem(upstream: Upstream, document: dict, *, code: str, redirect_uri: str, verifier: str) -> dict:
    """The token response for ``code`` (client_secret_basic, RFC 6749 §2.3.1)."""
    from urllib.parse import quote

    basic = base64.b64encode(f"{quote(upstream.client_id, safe='')}:{quote(upstream.client_secret, safe='')}"
                             .encode()).decode()
    body = urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                      "code_verifier": verifier}).encode()
    request = _request(document["token_endpoint"], "token", data=body, method="POST", headers={
        "Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "application/json"})
    token = _json(upstream, request, "token")
    if not isinstance(token.get("id_token"), str) or not isinstance(token.get("access_token"), str):
        raise UpstreamRefused("token: the upstream sent no ID token (is 'openid' in its scope?)")
    return token


def id_token_claims(upstream: Upstream, document: dict, id_token: str, *, nonce: str) -> dict:
    """The ID token's claims after every check of OIDC Core §3.1.3.7 that applies."""
    keys = _json(upstream, _request(document["jwks_uri"], "jwks", headers={"Accept": "application/json"}),
                 "jwks").get("keys")
    if not isinstance(keys, list):
        raise UpstreamUnavailable("jwks: no keys")
    try:
        _header, claims = jose.verify_jwt(id_token, keys, algorithms=ALGORITHMS)
        jose.check_claims(claims, issuer=upstream.issuer, audience=upstream.client_id)
    except (KeysError, ValueError, TypeError) as exc:
        raise UpstreamRefused(f"id_token: {exc}") from None
    audiences = [claims["aud"]] if isinstance(claims["aud"], str) else claims["aud"]
    if len(audiences) > 1 and claims.get("azp") != upstream.client_id:
        raise UpstreamRefused("id_token: several audiences and azp is not our client_id")
    if not isinstance(claims.get("sub"), str) or not 0 < len(claims["sub"]) <= 255:  # OIDC Core §2: ≤ 255 ASCII
        raise UpstreamRefused("id_token: no sub, or one longer than 255 characters")
    if not isinstance(claims.get("nonce"), str) or not secrets.compare_digest(claims["nonce"], nonce):
        raise UpstreamRefused("id_token: the nonce is not the one this sign-in sent")
    return claims


def userinfo(upstream: Upstream, document: dict, access_token: str, sub: str) -> dict:
    """The upstream's userinfo for the same subject (OIDC Core §5.3.2: sub MUST match), or {}."""
    endpoint = document.get("userinfo_endpoint")
    if not isinstance(endpoint, str):
        return {}
    info = _json(upstream, _request(endpoint, "userinfo", headers={"Authorization": f"Bearer {access_token}",
                                                                   "Accept": "application/json"}), "userinfo")
    if info.get("sub") != sub:
        raise UpstreamRefused("userinfo: sub differs from the ID token's")
    return info


def claim_at(claims: dict, path: str):
    """The value at a dotted path; in an array (OIDC4IA allows several verified_claims), the first
    element that has the rest of the path."""
    parts = path.split(".")
    value = claims
    for index, part in enumerate(parts):
        if isinstance(value, list):
            for item in value:
                found = claim_at(item, ".".join(parts[index:])) if isinstance(item, dict) else None
                if found is not None:
                    return found
            return None
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value
