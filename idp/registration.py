"""Dynamic client registration (RFC 7591) and its management protocol (RFC 7592).

Off unless ``YITONG_DCR_INITIAL_ACCESS_TOKEN`` is set: registration then needs that initial
access token (§3: the server MAY require one; a government platform registers no anonymous
clients). Each registered client gets a registration access token (stored only as a keyed
hash) for reading, updating and deleting itself at its registration_client_uri.
"""

from __future__ import annotations

import hmac
import secrets

from flask import Blueprint, jsonify, request

from idp.admin_api import metadata_from_rfc7591, problem
from idp.clients import ClientError, hash_secret
from idp.registration_policy import REGISTRATION_TOKEN_KEY as _TOKEN_KEY
from idp.registration_policy import refusal
from idp.web import audit, services

bp = Blueprint("idp_registration", __name__)


def _bearer() -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _oauth_error(status: int, error: str, description: str):
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response


def _information(client, registration_token: str | None = None, secret: str | None = None) -> dict:
    info = client.as_dict(secret)
    info.pop(_TOKEN_KEY, None)
    info.pop("yitong_auth_method_pinned", None)
    info["registration_client_uri"] = f"{services()['issuer']}/register/{client.client_id}"
    if registration_token:
        info["registration_access_token"] = registration_token
    return info


class NotSelfService(ClientError):
    """Metadata that only an operator may grant (idp/registration_policy.py)."""


def _self_service_metadata(body: dict) -> dict:
    """The metadata of ``body`` when registration may grant them (RFC 7591 §3.2.2), else ClientError;
    the same rules for a new client and for a client updating itself (RFC 7592 §2.2)."""
    metadata = metadata_from_rfc7591(body)
    refused = refusal(metadata)
    if refused:
        raise NotSelfService(refused)
    return metadata


@bp.post("/register")
def register_client():
    initial = services()["dcr_initial_token"]
    if not initial:
        return problem(404, "Not Found", "dynamic client registration is not enabled on this server")
    if not hmac.compare_digest(_bearer().encode(), initial.encode()):
        return _oauth_error(401, "invalid_token", "an initial access token is required (RFC 7591 §3)")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return _oauth_error(400, "invalid_client_metadata", "the body must be a JSON object")
    try:
        metadata = _self_service_metadata(body)
    except ClientError as error:
        redirect_problem = "redirect" in str(error) and not isinstance(error, NotSelfService)
        return _oauth_error(400, "invalid_redirect_uri" if redirect_problem else "invalid_client_metadata", str(error))
    registration_token = secrets.token_urlsafe(32)
    registry = services()["clients"]
    metadata[_TOKEN_KEY] = hash_secret(registry.pepper, registration_token).hex()
    client, secret = registry.create(body.get("client_name") or "registered client", metadata)
    audit("client.created", client_id=client.client_id, via="rfc7591")
    response = jsonify(_information(client, registration_token, secret))
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response


def _managed_client(client_id: str):
    """RFC 7592 §3: the registration access token of this very client, or 401."""
    client = services()["clients"].get(client_id)
    stored = (client.metadata.get(_TOKEN_KEY) if client else None) or ""
    presented = hash_secret(services()["clients"].pepper, _bearer()).hex() if _bearer() else "-"
    if not client or not hmac.compare_digest(stored, presented):
        return None
    return client


@bp.get("/register/<client_id>")
def read_client(client_id: str):
    client = _managed_client(client_id)
    if client is None:
        return _oauth_error(401, "invalid_token", "a valid registration access token is required")
    response = jsonify(_information(client))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.put("/register/<client_id>")
def update_client(client_id: str):
    client = _managed_client(client_id)
    if client is None:
        return _oauth_error(401, "invalid_token", "a valid registration access token is required")
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or body.get("client_id", client_id) != client_id:
        return _oauth_error(400, "invalid_client_metadata", "the body must be this client's metadata")
    try:
        metadata = _self_service_metadata(body)  # §2.2: the request replaces the metadata
    except ClientError as error:
        return _oauth_error(400, "invalid_client_metadata", str(error))
    metadata[_TOKEN_KEY] = client.metadata[_TOKEN_KEY]
    updated = services()["clients"].update(client_id, body.get("client_name"), metadata)
    audit("client.updated", client_id=client_id, via="rfc7592")
    return jsonify(_information(updated))


@bp.delete("/register/<client_id>")
def delete_client(client_id: str):
    if _managed_client(client_id) is None:
        return _oauth_error(401, "invalid_token", "a valid registration access token is required")
    services()["clients"].delete(client_id)
    audit("client.deleted", client_id=client_id, via="rfc7592")
    return "", 204
