"""The seal API's OpenAPI 3.1 description (served at /seal/openapi.json)."""

from __future__ import annotations

from keys import stepup

_PROBLEM = {"description": "RFC 7807 problem details",
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
PROBLEM_SCHEMA = {"type": "object", "required": ["type", "title", "status"], "properties": {
    "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
    "detail": {"type": "string"}, "request_id": {"type": "string"}}}
_ESID = {"name": "esid", "in": "path", "required": True,
         "schema": {"type": "string", "pattern": "^[0-9]{14}$"},
         "description": "esID: 6-digit region code + 8-digit serial"}


def _errors(*codes: int) -> dict:
    """RFC 7807 problem+json responses for these status codes (also licence/openapi.py's)."""
    return {str(code): _PROBLEM for code in codes}


def openapi_document(server_url: str, idp_issuer: str) -> dict:
    """The description for the API at ``server_url``, whose tokens come from ``idp_issuer``."""
    token_url, authorization_url = f"{idp_issuer}/token", f"{idp_issuer}/authorize"
    read = [{"oauth2": ["seal:read"]}]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Yitong seal API",
            "version": "1",
            "description": (
                "GB/T 38540 electronic seals: list and read seals, download the seal image and the .esl "
                "(DER SESeal), and seal PDFs (PAdES with SM2-with-SM3 or ECDSA P-256, B-LT by default). "
                "Callers present IdP access tokens (RFC 9068 JWT) for this API's audience; signing also checks "
                "the token by introspection (cached at most 30 s). Positions are the seal's centre in "
                "millimetres from the page's top-left corner."),
        },
        "servers": [{"url": server_url}],
        "components": {
            "securitySchemes": {
                "oauth2": {"type": "oauth2", "flows": {
                    "clientCredentials": {"tokenUrl": token_url, "scopes": {
                        "seal:read": "read seals granted to the caller", "seal:sign": "seal documents"}},
                    "authorizationCode": {"authorizationUrl": authorization_url, "tokenUrl": token_url, "scopes": {
                        "seal:read": "read seals granted to the caller", "seal:sign": "seal documents"}}}},
            },
            "schemas": {
                "Problem": PROBLEM_SCHEMA,
                "Seal": {"type": "object", "required": ["esid", "holder", "type", "algorithm", "status"],
                         "properties": {
                             "esid": {"type": "string"},
                             "holder": {"type": "object", "properties": {
                                 "kind": {"enum": ["org", "person"]}, "id": {"type": "string"},
                                 "name": {"type": "string"}}},
                             "type": {"type": "integer", "description": "01..08, 99 (DESIGN.md seal type codes)"},
                             "type_label": {"type": "string"}, "name": {"type": "string"},
                             "algorithm": {"enum": ["sm2", "p256"]},
                             "status": {"enum": ["applied", "approved", "active", "suspended", "revoked",
                                                 "expired"]},
                             "cert_serial": {"type": ["string", "null"]}, "cert_ca": {"type": ["string", "null"]},
                             "valid_from": {"type": ["string", "null"], "format": "date-time"},
                             "valid_to": {"type": ["string", "null"], "format": "date-time"},
                             "width_mm": {"type": "integer"}, "height_mm": {"type": "integer"},
                             "created_at": {"type": "string", "format": "date-time"}}},
                "SignParameters": {"type": "object", "properties": {
                    "file": {"type": "string", "contentMediaType": "application/pdf"},
                    "page": {"type": "integer", "minimum": 1, "default": 1},
                    "x_mm": {"type": "number"}, "y_mm": {"type": "number"},
                    "keyword": {"type": "string", "maxLength": 64,
                                "description": "centre the seal on this text, e.g. （盖章）"},
                    "pages": {"type": "string", "description": "all, or e.g. 1,3-5: stamps drawn into these pages"},
                    "riding": {"type": "boolean", "description": "riding-seam seal (骑缝章) on every page's edge"},
                    "level": {"enum": ["B-B", "B-T", "B-LT"], "default": "B-LT"}}},
            },
        },
        "paths": {
            "/seals": {"post": {
                "summary": "Apply for a seal for the token's verified identity (person, or the organisation "
                           "it acts for); an operator approves and makes it",
                "security": [{"oauth2": ["seal:sign"]}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["holder_kind", "type"], "properties": {
                        "holder_kind": {"enum": ["org", "person"]}, "type": {"type": "integer"},
                        "algorithm": {"enum": ["sm2", "p256"]}, "name": {"type": "string"}}}}}},
                "responses": {"201": {"description": "the application (status applied)", "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Seal"}}}},
                    **_errors(400, 401, 403, 503)}},
                "get": {"summary": "Seals the caller may read", "security": read,
                               "responses": {"200": {"description": "seals", "content": {"application/json": {
                                   "schema": {"type": "object", "properties": {"seals": {
                                       "type": "array", "items": {"$ref": "#/components/schemas/Seal"}}}}}}},
                                   **_errors(401, 403)}}},
            "/seals/{esid}": {"get": {"summary": "One seal", "security": read, "parameters": [_ESID],
                                      "responses": {"200": {"description": "the seal", "content": {
                                          "application/json": {"schema": {"$ref": "#/components/schemas/Seal"}}}},
                                          **_errors(400, 401, 403, 404)}}},
            "/seals/{esid}/image.png": {"get": {"summary": "Seal image (PNG)", "security": read,
                                                "parameters": [_ESID], "responses": {
                                                    "200": {"description": "PNG", "content": {"image/png": {}}},
                                                    **_errors(401, 403, 404)}}},
            "/api/v1/public/seals/{esid}": {"get": {
                "summary": "Public seal query (印章查询): holder (a person masked), type, status, validity; no token, "
                           "rate-limited per address", "security": [], "parameters": [_ESID],
                "responses": {"200": {"description": "what anyone may know of the seal", "content": {
                    "application/json": {"schema": {"type": "object", "properties": {
                        "esid": {"type": "string"}, "name": {"type": "string"},
                        "holder": {"type": "object", "properties": {"kind": {"enum": ["organisation", "person"]},
                                                                     "name": {"type": "string"}}},
                        "type": {"type": "integer"}, "type_label": {"type": "string"},
                        "type_label_en": {"type": "string"},
                        "status": {"enum": ["active", "suspended", "revoked", "expired"]},
                        "valid_from": {"type": ["string", "null"]}, "valid_to": {"type": ["string", "null"]},
                        "image_url": {"type": "string"}}}}}},
                    **_errors(400, 404, 429)}}},
            "/api/v1/public/seals/{esid}/image.png": {"get": {
                "summary": "The seal's picture, at most 96 pixels a side and watermarked; no token, rate-limited",
                "security": [], "parameters": [_ESID],
                "responses": {"200": {"description": "PNG", "content": {"image/png": {}}}, **_errors(400, 404, 429)}}},
            "/seals/{esid}/image.svg": {"get": {"summary": "Seal image (SVG)", "security": read,
                                                "parameters": [_ESID], "responses": {
                                                    "200": {"description": "SVG", "content": {"image/svg+xml": {}}},
                                                    **_errors(401, 403, 404)}}},
            "/seals/{esid}/esl": {"get": {"summary": "The GB/T 38540 V4 SESeal (DER)", "security": read,
                                          "parameters": [_ESID], "responses": {
                                              "200": {"description": "DER", "content": {
                                                  "application/octet-stream": {}}},
                                              **_errors(401, 403, 404)}}},
            "/seals/{esid}/usage": {"get": {
                "summary": "The seal's usage log (holders only)", "security": read,
                "parameters": [_ESID, {"name": "limit", "in": "query", "schema": {"type": "integer"}}],
                "responses": {"200": {"description": "uses, newest first"}, **_errors(400, 401, 403, 404)}}},
            "/seals/{esid}/sign": {"post": {
                "summary": "Seal a PDF or an OFD", "security": [{"oauth2": ["seal:sign"]}], "parameters": [_ESID],
                "description": ("Send the PDF or OFD as application/pdf or application/ofd (parameters in the "
                                "query) or as multipart field 'file' (parameters as form fields); the format is "
                                "read from the content. OFDs need an SM2 seal. Personal seals need a person's "
                                "token at acr urn:yitong:loa:3 or above (RFC 9470 step-up otherwise)."),
                "requestBody": {"required": True, "content": {
                    "multipart/form-data": {"schema": {"$ref": "#/components/schemas/SignParameters"}},
                    "application/pdf": {}, "application/ofd": {}}},
                "responses": {"200": {"description": "the sealed document",
                                      "content": {"application/pdf": {}, "application/ofd": {}}},
                              **_errors(400, 401, 403, 404, 409, 413, 415, 422, 503)}}},
            "/seals/{esid}/jobs": {"post": {
                "summary": "Seal many PDFs or OFDs as a job (JobQueue)", "security": [{"oauth2": ["seal:sign"]}],
                "parameters": [_ESID],
                "description": "Multipart with the field 'file' repeated (at most 200 documents); the same "
                               "placement parameters as /sign apply to every document.",
                "requestBody": {"required": True, "content": {"multipart/form-data": {
                    "schema": {"$ref": "#/components/schemas/SignParameters"}}}},
                "responses": {"202": {"description": "job accepted: {job_id, status_url, total}"},
                              **_errors(400, 401, 403, 404, 409, 413, 415, 503)}}},
            "/jobs/{job_id}": {"get": {
                "summary": "Job progress (its submitter only)", "security": [{"oauth2": ["seal:sign"]}],
                "parameters": [{"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "{status, total, done, failed, documents[]}"},
                              **_errors(401, 403, 404)}}},
            "/jobs/{job_id}/documents/{position}": {"get": {
                "summary": "One sealed document of a job", "security": [{"oauth2": ["seal:sign"]}],
                "parameters": [{"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}},
                               {"name": "position", "in": "path", "required": True,
                                "schema": {"type": "integer", "minimum": 0}}],
                "responses": {"200": {"description": "the sealed document",
                                      "content": {"application/pdf": {}, "application/ofd": {}}},
                              **_errors(401, 403, 404, 409, 422)}}},
        },
    }


def admin_operation(summary: str, *, roles: tuple[str, ...] = ("security", "audit"), ok: str = "200",
                    params: list | None = None, body: dict | None = None, step_up: bool = False,
                    media: str = "application/json") -> dict:
    """One operation of an operators' API (seal/admin.py, licence/admin.py): who may call it, its
    step-up, problem+json errors."""
    description = (f"Operator role: **{' or '.join(roles)}** administrator (claim `yitong_role`); a person's "
                   "token comes from a sign-in at urn:yitong:loa:3. Other roles get 403 (`wrong-role`)"
                   + (", recorded in the record's history as `admin.refused`" if roles == ("security",) else "")
                   + ".")
    if step_up:
        description += " " + stepup.DESCRIPTION
    schema = {"type": "object"} if media == "application/json" else {"type": "string", "contentEncoding": "binary"}
    answer = {"summary": summary, "description": description, "x-yitong-role": list(roles),
              "security": [{"operatorToken": ["yitong:admin"]}],
              "responses": {ok: {"description": "done", "content": {media: {"schema": schema}}},
                            **_errors(400, 401, 403, 404)}}
    if step_up:
        answer["x-yitong-step-up"] = True
    if params:
        answer["parameters"] = params
    if body:
        answer["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return answer


def query_parameters(*names: str) -> list[dict]:
    return [{"name": n, "in": "query", "required": False, "schema": {"type": "string"}} for n in names]


REASON = {"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string", "minLength": 1}}}


def admin_document(title: str, description: str, server_url: str, idp_issuer: str, paths: dict) -> dict:
    """An operators' API description: the operator token scheme, problem+json, ``paths``."""
    scopes = {"yitong:admin": "operator actions (the operator role in the token decides which)"}
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1", "description": description + " Errors are RFC 7807 problem+json."},
        "servers": [{"url": server_url}],
        "components": {
            "securitySchemes": {"operatorToken": {"type": "oauth2", "flows": {
                "authorizationCode": {"authorizationUrl": f"{idp_issuer}/authorize", "tokenUrl": f"{idp_issuer}/token",
                                      "scopes": scopes},
                "clientCredentials": {"tokenUrl": f"{idp_issuer}/token", "scopes": scopes}}}},
            "schemas": {"Problem": PROBLEM_SCHEMA},
        },
        "paths": paths,
    }


def admin_openapi_document(server_url: str, idp_issuer: str) -> dict:
    """The operators' seal API at ``server_url`` (= .../seal/admin; served at /seal/admin/openapi.json)."""
    action = {"name": "action", "in": "path", "required": True,
              "schema": {"enum": ["approve", "make", "suspend", "resume", "revoke"]}}
    reason = {"type": "object", "required": ["reason"], "properties": {
        "reason": {"type": "string", "minLength": 1},
        "crl_reason": {"type": "string", "description": "revoke only: the CRL reason (default cessationOfOperation)"}}}
    return admin_document(
        "Yitong seal admin API",
        "The security administrator manages seals (a seal is applied for by one person and approved by another); "
        "the audit administrator reads seals, their history and every seal's events with the chains' state.",
        server_url, idp_issuer, {
            "/seals": {"get": admin_operation("Every seal, filtered by status and q (esID, holder or name)",
                                              params=query_parameters("status", "q", "limit", "offset"))},
            "/seals/{esid}": {"parameters": [_ESID], "get": admin_operation("A seal with its status history")},
            "/seals/{esid}/image.png": {"parameters": [_ESID],
                                        "get": admin_operation("The seal's image", media="image/png")},
            "/seals/{esid}/{action}": {"parameters": [_ESID, action], "post": admin_operation(
                "Approve, make, suspend, resume or revoke a seal, with a reason (approve, suspend and revoke "
                "need a recent sign-in)", roles=("security",), body=reason, step_up=True)},
            "/events": {"get": admin_operation("Every seal's lifecycle events, newest first",
                                               params=query_parameters("event", "esid", "actor", "before", "limit"))},
            "/events/verify": {"get": admin_operation("The seal chains (events and usage records) checked now")},
        })
