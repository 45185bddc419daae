"""OAuth clients (RFC 6749 §2, metadata per RFC 7591) and their registry in idp_clients.

Secrets are 256-bit random strings shown once; only HMAC-SM3(pepper, secret) is stored (the
pepper is a keystore secret), and checks are constant-time. Redirect URIs match exactly.

Every token request looks its client up, so with Redis the registry keeps the rows it read in
memory while the shared change stamp (keys.runtime.ChangeStamp) that every write bumps stands
still, and for at most CACHE_MAX_AGE_SECONDS in any case (the bound if a writer could not reach
Redis to bump it). Without Redis (the embedded default) every lookup reads the database.
"""

from __future__ import annotations

import copy
import hmac
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import ClientMixin
from sqlalchemy import Engine, delete, insert, select, update

from idp.errors import IdpError
from idp.models import client_logos_table, clients_table
from idp.oauth.registration_policy import granted_scopes
from keys.ids import new_id
from keys.sm3 import hmac_sm3
from keys.storage import utcnow

log = logging.getLogger("yitong.idp.clients")
CACHE_MAX_AGE_SECONDS = 30
CACHE_MAX_ENTRIES = 10_000
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
ID_TOKEN_ALGS = ("ES256", "SM2")  # ES256 by default; SM2 per client (see keys/jose/sm2alg.py)
SUBJECT_TYPES = ("public", "pairwise")  # OIDC Core §8; pairwise: see idp/oauth/pairwise.py


class ClientError(IdpError, ValueError):
    """Invalid client metadata (maps to RFC 7591 invalid_client_metadata / a CLI error)."""


@dataclass
class Client(ClientMixin):
    client_id: str
    name: str
    metadata: dict = field(default_factory=dict)
    secret_hash: bytes | None = None
    pepper: bytes = field(default=b"", repr=False)

    # -- what Authlib asks -------------------------------------------------------------------------
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        uris = self.redirect_uris
        return uris[0] if len(uris) == 1 else None  # RFC 6749 §3.1.2.3: only when unambiguous

    def get_allowed_scope(self, scope: str) -> str:
        if not scope:
            return ""
        allowed = granted_scopes(self.metadata, set(self.scope.split()))
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris  # exact string match, no prefixes or wildcards

    def check_client_secret(self, client_secret: str) -> bool:
        if self.secret_hash is None or not client_secret:
            return False
        return hmac.compare_digest(hash_secret(self.pepper, client_secret), self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        pinned = self.token_endpoint_auth_method
        if self.is_public:
            return method == "none"
        if pinned == "private_key_jwt":  # Authlib's name for it is client_assertion_jwt
            return method in ("private_key_jwt", "client_assertion_jwt")
        if self.metadata.get("yitong_auth_method_pinned") and endpoint == "token":
            return method == pinned
        # Confidential clients accept both secret methods unless pinned (issue 4 §3).
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types

    # -- metadata ------------------------------------------------------------------------------------
    @property
    def redirect_uris(self) -> list[str]:
        return list(self.metadata.get("redirect_uris", []))

    @property
    def grant_types(self) -> list[str]:
        return list(self.metadata.get("grant_types", []))

    @property
    def scope(self) -> str:
        return self.metadata.get("scope", "")

    @property
    def token_endpoint_auth_method(self) -> str:
        return self.metadata.get("token_endpoint_auth_method", "client_secret_basic")

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"

    @property
    def id_token_signed_response_alg(self) -> str:
        return self.metadata.get("id_token_signed_response_alg", "ES256")

    @property
    def subject_type(self) -> str:
        return self.metadata.get("subject_type", "public")

    @property
    def post_logout_redirect_uris(self) -> list[str]:
        return list(self.metadata.get("post_logout_redirect_uris", []))

    @property
    def cas(self) -> bool:
        """Its redirect URIs are CAS service URLs too (idp/oauth/cas.py)."""
        return bool(self.metadata.get("yitong_cas"))

    def as_dict(self, secret: str | None = None) -> dict:
        """RFC 7591 §3.2.1 client information response (the secret only when just made)."""
        info = {"client_id": self.client_id, "client_name": self.name, **self.metadata}
        if secret is not None:
            info["client_secret"] = secret
            info["client_secret_expires_at"] = 0
        return info


LOGO_MAX_BYTES = 64 * 1024
LOGO_MAX_PIXELS = 1024  # per side: a mark shown at 48 px, not a photograph
LOGO_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg"}


def check_logo(data: bytes) -> str:
    """The logo's content type, after Pillow has read it whole; ClientError when it is not a small
    PNG or JPEG (never SVG, which can carry scripts)."""
    from io import BytesIO

    from PIL import Image, UnidentifiedImageError

    if len(data) > LOGO_MAX_BYTES:
        raise ClientError(f"the logo is {len(data)} bytes; at most {LOGO_MAX_BYTES}")
    try:
        with Image.open(BytesIO(data)) as image:
            kind, size = image.format, image.size
            image.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise ClientError("the logo is not a readable PNG or JPEG image") from None
    if kind not in LOGO_FORMATS:
        raise ClientError(f"the logo must be PNG or JPEG, not {kind}")
    if max(size) > LOGO_MAX_PIXELS:
        raise ClientError(f"the logo is {size[0]}x{size[1]} pixels; at most {LOGO_MAX_PIXELS} on a side")
    return LOGO_FORMATS[kind]


def hash_secret(pepper: bytes, secret: str) -> bytes:
    return hmac_sm3(pepper, secret.encode())


def _check_uri(uri: str, what: str) -> str:
    parts = urlsplit(uri)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.fragment:
        raise ClientError(f"{what} {uri!r} must be an absolute http(s) URI without a fragment")
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ClientError(f"{what} {uri!r} must use https (http only for loopback, RFC 8252 §7.3)")
    return uri


def build_metadata(
    *,
    redirect_uris: list[str],
    grant_types: list[str],
    scope: str,
    token_endpoint_auth_method: str | None,
    public: bool,
    post_logout_redirect_uris: list[str] = (),
    backchannel_logout_uri: str | None = None,
    id_token_signed_response_alg: str = "ES256",
    jwks: dict | None = None,
    release: list[str] = (),
    subject_type: str = "public",
    cas: bool = False,
) -> dict:
    grant_types = list(dict.fromkeys(grant_types))
    unknown = [g for g in grant_types if g not in GRANT_TYPES]
    if unknown or not grant_types:
        raise ClientError(f"grant types must be some of {', '.join(GRANT_TYPES)}; got {', '.join(unknown) or 'none'}")
    method = "none" if public else (token_endpoint_auth_method or "client_secret_basic")
    if method not in AUTH_METHODS:
        raise ClientError(f"token_endpoint_auth_method must be one of {', '.join(AUTH_METHODS)}")
    if public and token_endpoint_auth_method not in (None, "none"):
        raise ClientError("a public client authenticates with 'none'")
    if public and "client_credentials" in grant_types:
        raise ClientError("a public client cannot use client_credentials (it has no credentials)")
    if "authorization_code" in grant_types and not redirect_uris:
        raise ClientError("the authorization_code grant needs at least one --redirect-uri")
    if method == "private_key_jwt":
        _check_jwks(jwks)
    elif jwks:
        raise ClientError("--jwks is for private_key_jwt clients")
    if id_token_signed_response_alg not in ID_TOKEN_ALGS:
        raise ClientError(f"id_token_signed_response_alg must be one of {', '.join(ID_TOKEN_ALGS)}")
    release = _check_release(release)
    if release:  # the claim set is requested with its scope, which the client must be allowed
        scope = " ".join([*scope.split(), "verified_claims"])
    if subject_type not in SUBJECT_TYPES:
        raise ClientError(f"subject_type must be one of {', '.join(SUBJECT_TYPES)}")
    if cas and (public or "authorization_code" not in grant_types):
        # idp/oauth/cas.py: a CAS service ticket is an authorization code of a confidential client
        raise ClientError("--cas needs a confidential client with the authorization_code grant")
    if subject_type == "pairwise" and len({urlsplit(u).hostname for u in redirect_uris}) > 1:
        # OIDC Core §8.1: the sector is the redirect URIs' host; several hosts would need a
        # sector_identifier_uri, which is not supported
        raise ClientError("a pairwise client's redirect URIs must all be on one host")
    metadata = {
        "redirect_uris": [_check_uri(u, "redirect URI") for u in redirect_uris],
        "grant_types": grant_types,
        "response_types": ["code"] if "authorization_code" in grant_types else [],
        "scope": " ".join(dict.fromkeys(scope.split())),
        "token_endpoint_auth_method": method,
        # Not pinned: a confidential client may use client_secret_basic or _post (RFC 7591 §2
        # names only one, so we record whether the operator chose it).
        "yitong_auth_method_pinned": token_endpoint_auth_method is not None and not public,
        "post_logout_redirect_uris": [_check_uri(u, "post-logout redirect URI") for u in post_logout_redirect_uris],
        "id_token_signed_response_alg": id_token_signed_response_alg,
    }
    if backchannel_logout_uri:
        metadata["backchannel_logout_uri"] = _check_uri(backchannel_logout_uri, "back-channel logout URI")
    if jwks:
        metadata["jwks"] = jwks
    if release:
        metadata["yitong_release"] = release  # operators only (idp/assurance.py); RFC 7591 cannot set it
    if subject_type == "pairwise":
        metadata["subject_type"] = "pairwise"
    if cas:
        metadata["yitong_cas"] = True  # operators only: its redirect URIs are CAS service URLs (idp/oauth/cas.py)
    return metadata


def _check_release(release) -> list[str]:
    """The release policy of idp/assurance.py: verified_claims, and id_number inside it."""
    from idp.assurance import RELEASES

    chosen = list(dict.fromkeys(release or ()))
    unknown = [r for r in chosen if r not in RELEASES]
    if unknown:
        raise ClientError(f"--release must be some of {', '.join(RELEASES)}; got {', '.join(unknown)}")
    if "id_number" in chosen and "verified_claims" not in chosen:
        raise ClientError("the ID number is released inside verified_claims: add --release verified_claims")
    return chosen


def _check_jwks(jwks: dict | None) -> None:
    """A private_key_jwt client registers public keys only (RFC 7591 §2 ``jwks``)."""
    from keys import jose
    from keys.errors import KeysError

    keys = (jwks or {}).get("keys") if isinstance(jwks, dict) else None
    if not keys:
        raise ClientError("private_key_jwt needs the client's public keys: --jwks-file with {\"keys\": [...]}")
    for jwk in keys:
        try:
            jose.jwk_to_public_key(jwk)
        except (KeysError, TypeError, ValueError) as exc:
            raise ClientError(f"bad key in jwks: {exc}") from None


class ClientRegistry:
    def __init__(self, engine: Engine, pepper: bytes, stamp=None) -> None:
        """``stamp``: the shared keys.runtime.ChangeStamp of clients (Runtime.change_stamp), which
        turns the in-memory cache on; every registry that writes must have it then."""
        self.engine = engine
        self.pepper = pepper
        self._stamp = stamp
        self._cache: dict[str, tuple[int, float, object]] = {}  # client_id -> (stamp, when read, row)
        self._lock = threading.Lock()

    def _client(self, row) -> Client:
        return Client(row.client_id, row.name, copy.deepcopy(row.metadata), row.secret_hash, self.pepper)

    def _changed(self) -> None:
        """After a committed write: every worker's cache (this one's at once) reads again."""
        with self._lock:
            self._cache.clear()
        if self._stamp is not None:
            try:
                self._stamp.bump()
            except Exception as exc:  # the cached copies elsewhere then live out CACHE_MAX_AGE_SECONDS
                log.warning("client change stamp not bumped (%s): other workers see the change within %d s",
                            type(exc).__name__, CACHE_MAX_AGE_SECONDS)

    def create(self, name: str, metadata: dict, *, client_id: str | None = None,
               secret: str | None = None) -> tuple[Client, str | None]:
        """A new client; ``client_id`` and ``secret`` are chosen here unless given (the composition
        root provisions the seal API's own client with a secret it keeps in the keystore)."""
        client_id = client_id or new_id()
        secret = None if metadata["token_endpoint_auth_method"] in ("none", "private_key_jwt") \
            else secret or secrets.token_urlsafe(32)
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(insert(clients_table).values(
                client_id=client_id, name=name, metadata=metadata, created_at=now, updated_at=now,
                secret_hash=hash_secret(self.pepper, secret) if secret else None))
        self._changed()
        return self.get(client_id), secret

    def get(self, client_id: str) -> Client | None:
        if not isinstance(client_id, str) or "\x00" in client_id:
            return None  # no client has such an id, and PostgreSQL text cannot even be asked for one
        stamp = self._current_stamp()
        if stamp is not None:
            with self._lock:
                cached = self._cache.get(client_id)
            if cached and cached[0] == stamp and time.monotonic() - cached[1] < CACHE_MAX_AGE_SECONDS:
                return self._client(cached[2])
        with self.engine.connect() as conn:
            row = conn.execute(select(clients_table).where(clients_table.c.client_id == client_id)).first()
        if row is None:
            return None  # unknown ids are not cached: anyone can send any number of them
        if stamp is not None:
            with self._lock:
                if len(self._cache) >= CACHE_MAX_ENTRIES:
                    self._cache.clear()
                self._cache[client_id] = (stamp, time.monotonic(), row)
        return self._client(row)

    def _current_stamp(self) -> int | None:
        """The shared change stamp, or None (no cache) without Redis or when it does not answer."""
        if self._stamp is None:
            return None
        try:
            return self._stamp.read()
        except Exception:
            return None

    def list(self) -> list[Client]:
        with self.engine.connect() as conn:
            return [self._client(r) for r in conn.execute(select(clients_table).order_by(clients_table.c.created_at))]

    def update(self, client_id: str, name: str | None, metadata: dict | None) -> Client:
        values = {"updated_at": utcnow()}
        if name:
            values["name"] = name
        if metadata is not None:
            values["metadata"] = metadata
        with self.engine.begin() as conn:
            if not conn.execute(update(clients_table).where(clients_table.c.client_id == client_id)
                                .values(**values)).rowcount:
                raise ClientError(f"no client {client_id!r}")
        self._changed()
        return self.get(client_id)

    def rotate_secret(self, client_id: str) -> str:
        client = self.get(client_id)
        if client is None:
            raise ClientError(f"no client {client_id!r}")
        if client.secret_hash is None:
            raise ClientError(f"client {client_id} has no secret ({client.token_endpoint_auth_method})")
        secret = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(update(clients_table).where(clients_table.c.client_id == client_id).values(
                secret_hash=hash_secret(self.pepper, secret), updated_at=utcnow()))
        self._changed()
        return secret

    def set_logo(self, client_id: str, data: bytes | None) -> None:
        """Set (or with None remove) the client's logo: a PNG or JPEG of at most LOGO_MAX_BYTES."""
        content_type = check_logo(data) if data is not None else None
        with self.engine.begin() as conn:
            if conn.execute(select(clients_table.c.client_id).where(clients_table.c.client_id == client_id)).first() \
                    is None:
                raise ClientError(f"no client {client_id!r}")
            conn.execute(delete(client_logos_table).where(client_logos_table.c.client_id == client_id))
            if data is not None:
                conn.execute(insert(client_logos_table).values(client_id=client_id, content_type=content_type,
                                                               data=data, updated_at=utcnow()))

    def logo(self, client_id: str) -> tuple[bytes, str] | None:
        if not isinstance(client_id, str) or "\x00" in client_id:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(select(client_logos_table.c.data, client_logos_table.c.content_type)
                               .where(client_logos_table.c.client_id == client_id)).first()
        return (bytes(row.data), row.content_type) if row else None

    def has_logo(self, client_id: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(client_logos_table.c.client_id)
                                .where(client_logos_table.c.client_id == client_id)).first() is not None

    def delete(self, client_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(client_logos_table).where(client_logos_table.c.client_id == client_id))
            if not conn.execute(delete(clients_table).where(clients_table.c.client_id == client_id)).rowcount:
                raise ClientError(f"no client {client_id!r}")
        self._changed()
