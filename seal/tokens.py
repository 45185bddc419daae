"""Access tokens at the seal API, per DESIGN.md's token contract, as if the IdP were another host.

- JWT access tokens (RFC 9068, ``typ`` at+jwt) from ``YITONG_SEAL_IDP_ISSUER`` (default the
  issuer), ES256 or SM2, audience ``YITONG_SEAL_AUDIENCE``; keys from the issuer's JWKS
  (discovery → ``jwks_uri``), cached 5 minutes and refetched (at most every 30 s) when a
  token names an unknown kid.
- Reads are decided offline on the JWT. Signing also asks the IdP's introspection endpoint
  (RFC 7662, with the seal API's own client credentials); the answer is cached at most 30 s in
  this process, so a revoked token, grant or agent stops sealing within 30 s.
- The IdP is reached through an :class:`IdpGateway`: :class:`OidcGateway` speaks HTTP to the
  issuer's endpoints over a transport, the network by default. When the IdP is the same
  application, the composition root hands it an in-process transport (no socket, so a busy
  single worker never waits on itself) and the same requests get the same answers.
- DPoP-bound tokens (``cnf.jkt``) need ``Authorization: DPoP`` and a proof for this request
  (keys.dpop); bearer tokens need ``Authorization: Bearer``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from keys import dpop, jose
from seal.errors import SealError

ALGORITHMS = ("ES256", "SM2")
JWKS_TTL = 300
JWKS_REFETCH_GAP = 30
INTROSPECTION_TTL = 30
MAX_ANSWER = 1 << 20  # bytes read of any answer from the IdP
LOA_ORDER = ("urn:yitong:loa:1", "urn:yitong:loa:2", "urn:yitong:loa:3", "urn:yitong:loa:4")


class TokenRefused(SealError):
    """Maps onto RFC 6750 §3: ``error`` (invalid_token, insufficient_scope, ...) and a status."""

    def __init__(self, status: int, error: str, description: str, *, scope: str | None = None,
                 acr_values: str | None = None, scheme: str = "Bearer") -> None:
        super().__init__(description, status=status, kind=error or "token-required")
        self.error, self.description = error, description
        self.scope, self.acr_values, self.scheme = scope, acr_values, scheme

    def www_authenticate(self, realm: str = "yitong-seal") -> str:
        parts = [f'realm="{realm}"']
        if self.error:
            parts.append(f'error="{self.error}"')
            parts.append(f'error_description="{self.description.replace(chr(34), chr(39))}"')
        if self.scope:
            parts.append(f'scope="{self.scope}"')
        if self.acr_values:
            parts.append(f'acr_values="{self.acr_values}"')
        return f"{self.scheme} " + ", ".join(parts)


@dataclass(frozen=True)
class Caller:
    claims: dict = field(repr=False)
    client_id: str
    sub: str
    scopes: frozenset[str]
    acr: str | None
    org: dict | None

    @property
    def is_person(self) -> bool:
        """A person's token (authorization code), not a business client's own (client credentials)."""
        return self.sub != self.client_id

    @property
    def acting_for(self) -> str | None:
        """The USCC of the organisation this person acts for, if the token says so."""
        org = self.org or {}
        return org.get("uscc") if org.get("acting_as") and isinstance(org.get("uscc"), str) else None

    def loa_at_least(self, level: str) -> bool:
        return self.acr in LOA_ORDER and LOA_ORDER.index(self.acr) >= LOA_ORDER.index(level)


def _grants(scopes: frozenset[str], wanted: str) -> bool:
    """``wanted`` is among ``scopes``; ``licence:read:*`` (a trailing ``*``) is any scope with that prefix."""
    if wanted.endswith("*"):
        return any(s.startswith(wanted[:-1]) and len(s) > len(wanted) - 1 for s in scopes)
    return wanted in scopes


Transport = Callable[[str, bytes | None, dict[str, str]], tuple[int, bytes]]
"""An HTTP exchange with the IdP: (url, form body or None for GET, headers) -> (status, body).
Network failures raise OSError."""


def over_the_network(url: str, data: bytes | None, headers: dict[str, str], timeout: float = 5) -> tuple[int, bytes]:
    """The transport to an IdP on another host (or another process): urllib, http(s) only."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"refusing to fetch {url!r}: only http(s)")
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 - scheme checked above
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read(MAX_ANSWER)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(MAX_ANSWER)


class IdpGateway(Protocol):
    """How the seal API reaches the IdP whose tokens it accepts: only through OIDC, as from another
    host (DESIGN.md). Every failure to get an answer is a TokenRefused with status 503."""

    issuer: str

    def jwks(self) -> dict:
        """The issuer's JWK set (``jwks_uri`` of its discovery document)."""

    def introspect(self, token: str) -> dict:
        """The RFC 7662 answer for ``token``, asked with the seal API's own client credentials."""


class OidcGateway:
    """The IdP's discovery document, JWKS and introspection endpoint over HTTP, as a relying
    resource server sees them; ``transport`` carries the requests (the network by default, or the
    composition root's in-process one when the IdP is the same application)."""

    def __init__(self, issuer: str, *, client_id: str | None = None, client_secret: str | None = None,
                 transport: Transport = over_the_network) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id, self.client_secret = client_id, client_secret
        self._transport = transport
        self._metadata: dict | None = None

    def _json(self, what: str, url: str, data: bytes | None = None, headers: dict | None = None, *,
              unauthorised: str = "") -> dict:
        """The JSON object the IdP answers with 200; TokenRefused(503) for anything else
        (``unauthorised`` is added to the description of a 401)."""
        try:
            status, body = self._transport(url, data, {"Accept": "application/json", **(headers or {})})
        except (OSError, ValueError) as exc:
            raise TokenRefused(503, "", f"{what} failed: the identity provider cannot be reached ({exc})") from None
        if status != 200:
            raise TokenRefused(503, "", f"{what} failed (HTTP {status}){unauthorised if status == 401 else ''}")
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise TokenRefused(503, "", f"{what} failed: the identity provider's answer is not a JSON object")
        return answer

    def discovery(self) -> dict:
        """OpenID Connect Discovery 1.0 §4; fetched once, since endpoints do not move at run time."""
        if self._metadata is None:
            metadata = self._json("discovery", f"{self.issuer}/.well-known/openid-configuration")
            if metadata.get("issuer") != self.issuer:  # Discovery §4.3
                raise TokenRefused(503, "", "the identity provider's discovery names another issuer")
            self._metadata = metadata
        return self._metadata

    def jwks(self) -> dict:
        uri = self.discovery().get("jwks_uri")
        if not isinstance(uri, str):
            raise TokenRefused(503, "", "the identity provider's discovery has no jwks_uri")
        return self._json("fetching the identity provider's keys", uri)

    def introspect(self, token: str) -> dict:
        if not self.client_id or not self.client_secret:
            raise TokenRefused(503, "not-configured", "signing needs token introspection and this server has "
                                                      "no client for it: run `yitong db upgrade` (it registers "
                                                      "one), or set YITONG_SEAL_CLIENT_ID and "
                                                      "YITONG_SEAL_CLIENT_SECRET")
        endpoint = self.discovery().get("introspection_endpoint")
        if not isinstance(endpoint, str):
            raise TokenRefused(503, "", "the identity provider's discovery has no introspection_endpoint")
        basic = base64.b64encode(f"{urllib.parse.quote(self.client_id, safe='')}:"
                                 f"{urllib.parse.quote(self.client_secret, safe='')}".encode()).decode()
        # RFC 7662 §2.3: a 401 means the IdP did not accept the seal API's own client.
        return self._json("token introspection", endpoint, urllib.parse.urlencode({"token": token}).encode(),
                          {"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
                          unauthorised=f": the identity provider does not accept client {self.client_id!r}; set "
                                       "YITONG_SEAL_CLIENT_ID and YITONG_SEAL_CLIENT_SECRET to a client registered "
                                       "there")


class TokenValidator:
    def __init__(self, *, gateway: IdpGateway, audience: str, replay_cache=None) -> None:
        self.gateway = gateway
        self.issuer = gateway.issuer
        self.audience = audience
        self.replay_cache = replay_cache
        self._lock = threading.Lock()
        self._jwks: list[dict] = []
        self._jwks_at = 0.0
        self._introspected: dict[str, tuple[float, dict]] = {}

    # -- keys -------------------------------------------------------------------------------------------
    def _keys(self, kid: str | None) -> list[dict]:
        now = time.monotonic()
        with self._lock:
            stale = now - self._jwks_at > JWKS_TTL
            unknown = kid is not None and kid not in {k.get("kid") for k in self._jwks}
            if stale or (unknown and now - self._jwks_at > JWKS_REFETCH_GAP):
                try:
                    jwks = self.gateway.jwks()
                except TokenRefused:
                    if not self._jwks:
                        raise
                else:
                    self._jwks = [k for k in jwks.get("keys", []) if isinstance(k, dict)]
                    self._jwks_at = now
            return list(self._jwks)

    # -- validation ------------------------------------------------------------------------------------
    def caller(self, authorization: str | None, *, scope: str | tuple[str, ...], method: str, url: str,
               dpop_proof: str | None, introspect: bool, fresh: bool = False) -> Caller:
        """The token's caller; ``scope``: the scope it must carry, or alternatives (one of them), each
        possibly a prefix ending in ``*``. ``introspect`` asks the IdP whether the token is still
        active, reusing an answer up to INTROSPECTION_TTL old unless ``fresh`` (where a revoked
        token or withdrawn consent must stop at once: the licence sharing API)."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if not token or scheme.lower() not in ("bearer", "dpop"):
            raise TokenRefused(401, "", "an access token is required", scheme="Bearer")
        try:
            header = jose.decode_header(token)
            _header, claims = jose.verify_jwt(token, self._keys(header.get("kid")), ALGORITHMS)
            jose.check_claims(claims, issuer=self.issuer, audience=self.audience)
        except jose.JoseError as exc:
            raise TokenRefused(401, "invalid_token", str(exc)) from None
        if header.get("typ") != "at+jwt":
            raise TokenRefused(401, "invalid_token", "not an RFC 9068 access token (typ at+jwt)")
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp - time.time() > 310:
            raise TokenRefused(401, "invalid_token", "seal tokens live at most 5 minutes")
        jkt = (claims.get("cnf") or {}).get("jkt") if isinstance(claims.get("cnf"), dict) else None
        if jkt:
            if scheme.lower() != "dpop" or not dpop_proof:
                raise TokenRefused(401, "invalid_token", "a DPoP-bound token needs Authorization: DPoP and a proof",
                                   scheme="DPoP")
            try:
                proof = dpop.verify_proof(dpop_proof, method=method, url=url, access_token=token,
                                          replay_cache=self.replay_cache)
            except dpop.DpopError as exc:
                raise TokenRefused(401, "invalid_dpop_proof", str(exc), scheme="DPoP") from None
            if proof.jkt != jkt:
                raise TokenRefused(401, "invalid_token", "the DPoP proof is from another key", scheme="DPoP")
        elif scheme.lower() != "bearer":
            raise TokenRefused(401, "invalid_token", "a bearer token goes with Authorization: Bearer")
        scopes = frozenset(str(claims.get("scope", "")).split())
        wanted = (scope,) if isinstance(scope, str) else tuple(scope)
        if not any(_grants(scopes, one) for one in wanted):
            raise TokenRefused(403, "insufficient_scope", f"the token lacks the {' or '.join(wanted)} scope",
                               scope=" ".join(wanted))
        if introspect:
            self._check_active(token, fresh=fresh)
        client_id = claims.get("client_id")
        sub = claims.get("sub")
        if not isinstance(client_id, str) or not isinstance(sub, str):
            raise TokenRefused(401, "invalid_token", "the token has no client_id or sub")
        org = claims.get("org") if isinstance(claims.get("org"), dict) else None
        acr = claims.get("acr") if isinstance(claims.get("acr"), str) else None
        return Caller(claims, client_id, sub, scopes, acr, org)

    def _check_active(self, token: str, *, fresh: bool) -> None:
        key = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            for stale in [k for k, (at, _) in self._introspected.items() if now - at > INTROSPECTION_TTL]:
                del self._introspected[stale]
            cached = None if fresh else self._introspected.get(key)
        if cached is None:
            answer = self.gateway.introspect(token)
            with self._lock:
                self._introspected[key] = (now, answer)
            cached = (now, answer)
        if cached[1].get("active") is not True:
            raise TokenRefused(401, "invalid_token", "the token is no longer active (introspection)")
