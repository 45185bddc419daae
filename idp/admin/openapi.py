"""The OpenAPI 3.1 description of /admin/api/v1 (served at /admin/api/v1/openapi.json)."""

from __future__ import annotations

from keys import stepup

_PROBLEM = {"$ref": "#/components/responses/Problem"}
_LIST = {"type": "object", "properties": {"items": {"type": "array", "items": {"type": "object"}},
                                          "next": {"type": ["string", "integer", "null"]}}}


def _op(summary: str, role: str, *, body: dict | None = None, ok: str = "200", params: list | None = None,
        step_up: bool = False) -> dict:
    operation = {
        "summary": summary,
        "description": f"Operator role: **{role}** administrator. Other roles get 403 and the audit event "
                       "`admin.refused`.",
        "x-yitong-role": role,
        "security": [{"operatorToken": ["yitong:admin"]}],
        "responses": {ok: {"description": "done", "content": {"application/json": {"schema": {"type": "object"}}}},
                      "401": _PROBLEM, "403": _PROBLEM, "404": _PROBLEM},
    }
    if step_up:
        operation["x-yitong-step-up"] = True
        operation["description"] += " " + stepup.DESCRIPTION
    if body:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if params:
        operation["parameters"] = params
    return operation


def _query(*names: str) -> list[dict]:
    return [{"name": n, "in": "query", "required": False, "schema": {"type": "string"}} for n in names]


def _path(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def admin_openapi(issuer: str) -> dict:
    level = {"type": "object", "required": ["acr", "reason"],
             "properties": {"acr": {"type": "string", "pattern": "^urn:yitong:loa:[1-4]$"},
                            "reason": {"type": "string", "minLength": 1}}}
    reason = {"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string", "minLength": 1}}}
    grant = {"type": "object", "required": ["role"],
             "oneOf": [{"required": ["sub"]}, {"required": ["username"]}],
             "properties": {"sub": {"type": "string"}, "username": {"type": "string"},
                            "role": {"enum": ["system", "security", "audit"]}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Yitong admin API", "version": "1",
                 "description": "Operators' API (三员分立). A bearer access token of this IdP with scope "
                                "`yitong:admin`, whose subject holds the operator role; a person's token must "
                                "come from a sign-in at urn:yitong:loa:3. Errors are RFC 7807 problem+json. "
                                "Seals are managed at /seal/admin/ (the seal API)."},
        "servers": [{"url": f"{issuer}/admin/api/v1"}],
        "components": {
            "securitySchemes": {"operatorToken": {
                "type": "oauth2", "flows": {"authorizationCode": {
                    "authorizationUrl": f"{issuer}/authorize", "tokenUrl": f"{issuer}/token",
                    "scopes": {"yitong:admin": "operator actions (the role decides which)"}},
                    "clientCredentials": {"tokenUrl": f"{issuer}/token",
                                          "scopes": {"yitong:admin": "automation with an operator role"}}}}},
            "responses": {"Problem": {"description": "RFC 7807 problem details", "content": {
                "application/problem+json": {"schema": {"type": "object", "properties": {
                    "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                    "detail": {"type": "string"}}}}}}},
        },
        "paths": {
            "/clients": {"get": _op("List clients", "system"),
                         "post": _op("Register a client (RFC 7591 metadata)", "system", body={"type": "object"},
                                     ok="201")},
            "/clients/{client_id}": {"parameters": [_path("client_id")],
                                     "get": _op("Show a client", "system"),
                                     "patch": _op("Update a client", "system", body={"type": "object"}),
                                     "delete": _op("Delete a client", "system", ok="204")},
            "/clients/{client_id}/secret": {"parameters": [_path("client_id")],
                                            "post": _op("Rotate a client's secret", "system", step_up=True)},
            "/keys": {"get": _op("List keys with their ages", "system", params=_query("purpose"))},
            "/operators": {"get": _op("List operators", "system"),
                           "post": _op("Grant a role (never to oneself)", "system", body=grant, ok="201",
                                       step_up=True)},
            "/operators/{sub}": {"parameters": [_path("sub")],
                                 "delete": _op("Revoke a role (never one's own)", "system", ok="204",
                                               step_up=True)},
            "/users": {"get": _op("Search accounts (phone numbers masked)", "security",
                                  params=_query("q", "after", "limit"))},
            "/users/{sub}/level": {"parameters": [_path("sub")],
                                   "post": _op("Set an account's assurance level, with a reason", "security",
                                               body=level)},
            "/users/{sub}/lock": {"parameters": [_path("sub")],
                                  "post": _op("Lock an account (sessions end, grants revoked), with a reason",
                                              "security", body=reason, step_up=True)},
            "/users/{sub}/unlock": {"parameters": [_path("sub")],
                                    "post": _op("Unlock an account, with a reason", "security",
                                                body={"type": "object", "required": ["reason"]})},
            "/users/{sub}/sessions": {"parameters": [_path("sub")],
                                      "get": _op("An account's live sessions", "security"),
                                      "delete": _op("End an account's sessions", "security", ok="204")},
            "/organisations": {"get": _op("Search organisations (USCC prefix or part of the name)", "security",
                                          params=_query("q", "after", "limit"))},
            "/organisations/{uscc}": {"parameters": [_path("uscc")],
                                      "get": _op("An organisation and its agents' mandates", "security",
                                                 params=_query("state"))},
            "/agents/{agent_id}": {"parameters": [_path("agent_id")],
                                   "get": _op("An agent's mandate", "security")},
            "/agents/{agent_id}/revoke": {"parameters": [_path("agent_id")],
                                          "post": _op("Revoke an agent's mandate at once, with a reason", "security",
                                                      body=reason, step_up=True)},
            "/audit": {"get": _op("Audit events, newest first", "audit",
                                  params=_query("event", "sub", "before", "limit"))},
            "/audit/verify": {"get": _op("Check the audit chain now", "audit")},
        },
        "x-list-schema": _LIST,
    }
