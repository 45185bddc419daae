"""Admin REST API: the `yitong client` operations over HTTP, for an operator's tooling.

Protected by OAuth: a bearer access token of ours whose scope includes ``yitong:admin``
(a client-credentials client registered with that scope). Bodies use RFC 7591 names; errors
are RFC 7807 problem+json. Every change is audited with the calling client as the actor.
"""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request

from idp.clients import ClientError, build_metadata

ADMIN_SCOPE = "yitong:admin"
bp = Blueprint("idp_admin", __name__, url_prefix="/admin/api/v1")


def problem(status: int, title: str, detail: str, kind: str = "about:blank", headers: dict | None = None):
    response = jsonify({"type": kind, "title": title, "status": status, "detail": detail})
    response.status_code = status
    response.headers["Content-Type"] = "application/problem+json"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _idp() -> dict:
    return current_app.extensions["yitong.idp"]


@bp.before_request
def require_admin_token():
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    claims = _idp()["tokens"].check_access_token(token.strip()) if scheme.lower() == "bearer" else None
    if claims is None:
        return problem(401, "Unauthorized", "a valid bearer access token is needed",
                        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    if ADMIN_SCOPE not in claims.get("scope", "").split():
        return problem(403, "Forbidden", f"the token lacks the {ADMIN_SCOPE} scope",
                        headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{ADMIN_SCOPE}"'})
    g.admin_actor = claims["sub"]
    return None


def _audit(event: str, client_id: str) -> None:
    _idp()["audit"].record(event, sub=g.admin_actor, client_id=client_id, ip=request.remote_addr,
                           user_agent=request.user_agent.string, via="admin-api")


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


def _body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ClientError("the body must be a JSON object of RFC 7591 client metadata")
    return body


@bp.errorhandler(ClientError)
def invalid_metadata(error: ClientError):
    return problem(400, "Invalid client metadata", str(error),
                    kind="urn:ietf:params:oauth:error:invalid_client_metadata")


@bp.get("/clients")
def list_clients():
    return jsonify([c.as_dict() for c in _idp()["clients"].list()])


@bp.post("/clients")
def create_client():
    body = _body()
    created, secret = _idp()["clients"].create(body.get("client_name") or "unnamed client", metadata_from_rfc7591(body))
    _audit("client.created", created.client_id)
    response = jsonify(created.as_dict(secret))
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/clients/<client_id>")
def show_client(client_id: str):
    client = _idp()["clients"].get(client_id)
    return jsonify(client.as_dict()) if client else problem(404, "Not Found", f"no client {client_id}")


@bp.patch("/clients/<client_id>")
def update_client(client_id: str):
    registry = _idp()["clients"]
    client = registry.get(client_id)
    if client is None:
        return problem(404, "Not Found", f"no client {client_id}")
    body = _body()
    updated = registry.update(client_id, body.get("client_name"), metadata_from_rfc7591(body, client.metadata))
    _audit("client.updated", client_id)
    return jsonify(updated.as_dict())


@bp.post("/clients/<client_id>/secret")
def rotate_secret(client_id: str):
    if _idp()["clients"].get(client_id) is None:
        return problem(404, "Not Found", f"no client {client_id}")
    secret = _idp()["clients"].rotate_secret(client_id)
    _audit("client.secret_rotated", client_id)
    response = jsonify({"client_id": client_id, "client_secret": secret})
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.delete("/clients/<client_id>")
def delete_client(client_id: str):
    if _idp()["clients"].get(client_id) is None:
        return problem(404, "Not Found", f"no client {client_id}")
    _idp()["clients"].delete(client_id)
    _audit("client.deleted", client_id)
    return "", 204
