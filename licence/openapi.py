"""The licence API's OpenAPI 3.1 description (served at /licences/api/v1/openapi.json): issuing,
batches, the public status and the sharing service, for business systems and departments' portals.
Built as seal/openapi.py builds the seal API's; the operators' API is licence/admin.py's."""

from __future__ import annotations

from seal.openapi import PROBLEM_SCHEMA
from seal.openapi import _errors as errors

_ID = {"name": "licence_id", "in": "path", "required": True, "schema": {"type": "string"},
       "description": "the GB/T 36904 licence identifier"}
_JSON = "application/json"
_FILE = {"application/pdf": {"schema": {"type": "string", "contentEncoding": "binary"}},
         "application/ofd": {"schema": {"type": "string", "contentEncoding": "binary"}}}
_LICENCE = {"$ref": "#/components/schemas/Licence"}
_ISSUE = [{"licenceToken": ["licence:issue"]}]
_SHARE = [{"licenceToken": ["licence:share"]}, {"licenceToken": ["licence:read:{TYPE}"]}]
_SHARE_QUERY = [
    {"name": "holder_id", "in": "query", "required": False, "schema": {"type": "string", "maxLength": 32},
     "description": "under a sharing grant (scope licence:share): the holder's resident ID number or USCC; "
                    "never with a consent token, which names its holder itself"},
    {"name": "purpose", "in": "query", "required": False, "schema": {"type": "string", "maxLength": 200},
     "description": "the purpose of the use: required under a grant (it must be the grant's), optional with "
                    "consent; recorded in the sharing log"}]
_SHARE_DESCRIPTION = ("With the holder's consent (a person's token from the code flow with scope "
                      "licence:read:{TYPE}) or under an operator's legal sharing grant (the client's own token, "
                      "scope licence:share, with holder_id and purpose). Tokens are checked by introspection; "
                      "every use is recorded; rate-limited per client (429 with Retry-After).")


def _ok(description: str, schema: dict | None = None, media: dict | None = None) -> dict:
    return {"description": description, "content": media or {_JSON: {"schema": schema or {"type": "object"}}}}


def _share(summary: str, ok: dict, *, params: list | None = None) -> dict:
    return {"summary": summary, "description": _SHARE_DESCRIPTION, "security": _SHARE,
            "parameters": [*_SHARE_QUERY, *(params or [])],
            "responses": {"200": ok, **errors(400, 401, 403, 404, 429, 503)}}


def openapi_document(server_url: str, idp_issuer: str, type_codes: list[str] = ()) -> dict:
    """The API at ``server_url`` (= .../licences/api/v1), whose tokens come from ``idp_issuer``;
    ``type_codes``: the catalogue's types, each a consent scope ``licence:read:CODE``."""
    token_url = f"{idp_issuer}/token"
    client_scopes = {"licence:issue": "issue licences for the authorities the client is allowed for "
                                      "(yitong licence client allow), read them and their batches",
                     "licence:share": "read licences under a legal sharing grant (yitong licence share-grant)"}
    consent_scopes = {"licence:read:{TYPE}": "the holder's consent to read their licences of type TYPE",
                      **{f"licence:read:{code}": f"the holder's consent to read their licences of type {code}"
                         for code in type_codes}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Yitong licence API", "version": "1", "description": (
            "Electronic licences (电子证照, GB/T 36904..36906): business systems issue licences (sealed PDF, "
            "PAdES B-LT, or OFD, B-T, with the authority's seal) one by one or in batches; anyone checks a "
            "licence's status; departments read a holder's licences with the holder's consent or under a legal "
            "sharing grant. Tokens are IdP access tokens (RFC 9068 JWT, DPoP-bound ones accepted) for the "
            "audience $YITONG_ISSUER/licences. Every refusal is RFC 7807 problem+json and writes nothing.")},
        "servers": [{"url": server_url}],
        "components": {
            "securitySchemes": {"licenceToken": {"type": "oauth2", "description": (
                "A bearer token (Authorization: Bearer, or DPoP); licence:read:{TYPE} stands for one scope per "
                "catalogue type code."), "flows": {
                "clientCredentials": {"tokenUrl": token_url, "scopes": client_scopes},
                "authorizationCode": {"authorizationUrl": f"{idp_issuer}/authorize", "tokenUrl": token_url,
                                      "scopes": consent_scopes}}}},
            "schemas": {
                "Problem": PROBLEM_SCHEMA,
                "IssueRequest": {"type": "object", "required": ["type", "holder_id", "holder_name", "data"],
                                 "additionalProperties": False, "properties": {
                                     "type": {"type": "string", "description": "the catalogue's type code"},
                                     "holder_id": {"type": "string", "description": "resident ID number or USCC"},
                                     "holder_name": {"type": "string"},
                                     "data": {"type": "object", "description": "the type's data items"},
                                     "valid_from": {"type": "string", "format": "date"},
                                     "valid_to": {"type": "string", "format": "date"},
                                     "format": {"enum": ["pdf", "ofd"], "default": "pdf"}}},
                "Licence": {"type": "object", "required": ["licence_id", "type", "number", "status"], "properties": {
                    "licence_id": {"type": "string"}, "type": {"type": "string"}, "number": {"type": "string"},
                    "holder": {"type": "object", "properties": {
                        "kind": {"type": "string"}, "name": {"type": "string"},
                        "id": {"type": "string", "description": "masked"}}},
                    "status": {"enum": ["valid", "revoked", "expired", "superseded"]},
                    "valid_from": {"type": "string", "format": "date"},
                    "valid_to": {"type": ["string", "null"], "format": "date"}, "version": {"type": "integer"},
                    "format": {"enum": ["pdf", "ofd"]}, "sha256": {"type": "string"}}},
                "Batch": {"type": "object", "properties": {
                    "batch_id": {"type": "string"}, "type": {"type": "string"},
                    "status": {"type": "string"}, "total": {"type": "integer"}, "issued": {"type": "integer"},
                    "existing": {"type": "integer"}, "failed": {"type": "integer"},
                    "errors": {"type": "array", "items": {"type": "object"}}}},
                "Status": {"type": "object", "required": ["licence_id", "status"], "properties": {
                    "licence_id": {"type": "string"},
                    "status": {"enum": ["valid", "revoked", "expired", "superseded"]}}},
            },
        },
        "paths": {
            "/licences": {"post": {
                "summary": "Issue a licence (the client must be allowed for the type's authority)",
                "security": _ISSUE,
                "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                                "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,128}$"},
                                "description": "a retry with the same key and body answers the same licence (200); "
                                               "the same key with another body is refused (409)"}],
                "requestBody": {"required": True, "content": {_JSON: {
                    "schema": {"$ref": "#/components/schemas/IssueRequest"}}}},
                "responses": {"201": _ok("issued (Location: the licence; file_url: its sealed file)", _LICENCE),
                              "200": _ok("the licence issued earlier for this Idempotency-Key", _LICENCE),
                              **errors(400, 401, 403, 404, 409, 413, 415, 422, 500, 503)}}},
            "/licences/{licence_id}": {"parameters": [_ID], "get": {
                "summary": "A licence of the client's authorities, with its data items and history",
                "security": _ISSUE, "responses": {"200": _ok("the licence", _LICENCE), **errors(400, 401, 403, 404)}}},
            "/licences/{licence_id}/file": {"parameters": [_ID], "get": {
                "summary": "The sealed licence file (PDF or OFD)", "security": _ISSUE,
                "responses": {"200": _ok("the file", media=_FILE), **errors(400, 401, 403, 404)}}},
            "/licences/{licence_id}/status": {"parameters": [_ID], "get": {
                "summary": "Public status check: identifier and status only; no token, rate-limited per address",
                "security": [], "responses": {"200": _ok("the status", {"$ref": "#/components/schemas/Status"}),
                                              **errors(400, 404, 429)}}},
            "/batches": {"post": {
                "summary": "Import a batch of licences (CSV with a header line, or JSON lines; one row each, with "
                           "its own row_key), run on the job queue",
                "security": _ISSUE,
                "parameters": [{"name": "type", "in": "query", "required": True, "schema": {"type": "string"}},
                               {"name": "format", "in": "query", "required": False,
                                "schema": {"enum": ["pdf", "ofd"], "default": "pdf"}}],
                "requestBody": {"required": True, "content": {
                    "text/csv": {"schema": {"type": "string"}}, "application/x-ndjson": {"schema": {"type": "string"}},
                    "application/jsonl": {"schema": {"type": "string"}}}},
                "responses": {"202": _ok("accepted (Location and status_url: its progress)",
                                         {"$ref": "#/components/schemas/Batch"}),
                              **errors(400, 401, 403, 404, 413, 415, 503)}}},
            "/batches/{batch_id}": {"parameters": [{"name": "batch_id", "in": "path", "required": True,
                                                    "schema": {"type": "string"}}], "get": {
                "summary": "A batch's progress and per-row errors (its submitter only)", "security": _ISSUE,
                "responses": {"200": _ok("progress", {"$ref": "#/components/schemas/Batch"}),
                              **errors(401, 403, 404)}}},
            "/share/licences": {"get": _share(
                "The holder's licences (证照目录查询)", _ok("{holder, basis, licences[]}"),
                params=[{"name": "type", "in": "query", "required": False, "schema": {"type": "string"}}])},
            "/share/licences/{licence_id}": {"parameters": [_ID], "get": _share(
                "A licence's data items (证照数据获取); sensitive items only where a grant releases them",
                _ok("the data items, with withheld naming those left out"))},
            "/share/licences/{licence_id}/file": {"parameters": [_ID], "get": _share(
                "The sealed licence file (证照文件获取); X-Licence-Status carries its status",
                _ok("the file", media=_FILE))},
            "/share/licences/{licence_id}/status": {"parameters": [_ID], "get": _share(
                "The licence's status (证照状态核验)", _ok("{licence_id, status, superseded_by}"))},
        },
    }
