"""Client registration: dynamic registration (RFC 7591), its management protocol (RFC 7592), and the
admin REST API's client metadata and problem+json answers (the routes: idp/oauth/routes.py).

Off unless ``YITONG_DCR_INITIAL_ACCESS_TOKEN`` is set: registration then needs that initial
access token (§3: the server MAY require one; a government platform registers no anonymous
clients). Each registered client gets a registration access token (stored only as a keyed
hash) for reading, updating and deleting itself at its registration_client_uri.
"""

from __future__ import annotations

import hmac

from flask import jsonify, request

from idp.oauth.clients import ClientError, build_metadata, hash_secret
from idp.oauth.registration_policy import REGISTRATION_TOKEN_KEY as TOKEN_KEY
from idp.oauth.registration_policy import refusal
from idp.services import services

ADMIN_SCOPE = "yitong:admin"


def problem(status: int, title: str, detail: str, kind: str = "about:blank", headers: dict | None = None):
    response = jsonify({"type": kind, "title": title, "status": status, "detail": detail})
    response.status_code = status
    response.headers["Content-Type"] = "application/problem+json"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def metadata_from_rfc7591(body: dict, current: dict | None = None) -> dict:
    current = current or {}

    def pick(name, default):
        return body.get(name, current.get(name, default))

    method = pick("token_endpoint_auth_method", None)
    return build_metadata(
        redirect_uris=list(pick("redirect_uris", [])), grant_types=list(pick("grant_types", [])),
        scope=pick("scope", ""), token_endpoint_auth_method=None if method == "none" else method,
        public=method == "none", post_logout_redirect_uris=list(pick("post_logout_redirect_uris", [])),
        backchannel_logout_uri=pick("backchannel_logout_uri", None),
        id_token_signed_response_alg=pick("id_token_signed_response_alg", "ES256"), jwks=pick("jwks", None),
        subject_type=pick("subject_type", "public"))


def bearer_token() -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def oauth_error(status: int, error: str, description: str):
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response


def information(client, registration_token: str | None = None, secret: str | None = None) -> dict:
    info = client.as_dict(secret)
    info.pop(TOKEN_KEY, None)
    info.pop("yitong_auth_method_pinned", None)
    info["registration_client_uri"] = f"{services().issuer}/register/{client.client_id}"
    if registration_token:
        info["registration_access_token"] = registration_token
    return info


class NotSelfService(ClientError):
    """Metadata that only an operator may grant (idp/oauth/registration_policy.py)."""


def self_service_metadata(body: dict) -> dict:
    """The metadata of ``body`` when registration may grant them (RFC 7591 §3.2.2), else ClientError;
    the same rules for a new client and for a client updating itself (RFC 7592 §2.2)."""
    metadata = metadata_from_rfc7591(body)
    refused = refusal(metadata)
    if refused:
        raise NotSelfService(refused)
    return metadata


def managed_client(client_id: str):
    """RFC 7592 §3: the registration access token of this very client, or 401."""
    client = services().clients.get(client_id)
    stored = (client.metadata.get(TOKEN_KEY) if client else None) or ""
    presented = hash_secret(services().clients.pepper, bearer_token()).hex() if bearer_token() else "-"
    if not client or not hmac.compare_digest(stored, presented):
        return None
    return client


