"""The base-library protocol (version 1): JSON over HTTP, requests signed with HMAC-SM3.

Endpoints (relative to the library's base URL, e.g. ``http://host:8100/baselib``)::

    POST /api/v1/population/verify    {"name": "张三", "id_number": "110105194912310021"}
    POST /api/v1/legal-person/verify  {"uscc": "9111...", "name": "某某有限公司",
                                       "legal_representative": "张三",
                                       "legal_representative_id_number": "1101..."}   (optional)
    POST /api/v1/licence/verify       {"uscc": "9111...", "name": "某某有限公司"}
    POST /api/v1/bank/verify          {"name": "张三", "id_number": "1101...", "card_number": "6222...",
                                       "phone": "13800138000"}      (bank-card 4-factor)
    POST /api/v1/carrier/verify       {"name": "张三", "id_number": "1101...", "phone": "13800138000"}
                                                                    (carrier 3-factor)

    200 {"result": "match" | "no_match", "evidence": {...}, "checked_at": "2026-11-28T03:00:00+00:00"}

``evidence`` always has ``source``, ``library``, ``reference`` (a fresh id to quote in a dispute),
``stand_in`` (true: this is the reference stand-in, not a real library) and ``checks`` (per field:
``match`` / ``mismatch`` / ``not_found``, and ``not_on_record`` for a legal representative's ID
number the library does not hold — then the representative's name decides). Errors are RFC 7807
problem+json: 400 a malformed body, 401 a missing, stale, replayed or wrong signature, 404 an
unknown endpoint. A caller must treat anything but a 200 with a well-formed result as
"unavailable", never as a no-match.

Signing. Headers ``X-Baselib-Timestamp`` (Unix seconds), ``X-Baselib-Nonce`` (16–64 characters
of ``[A-Za-z0-9_-]``, never reused) and ``X-Baselib-Signature``: the lower-case hex HMAC-SM3,
under the shared key, of::

    YT-BASELIB-HMAC-SM3/1 \\n METHOD \\n PATH \\n TIMESTAMP \\n NONCE \\n hex(SM3(body))

(joined by single newlines; PATH is the URL path as sent, without the query). The library
accepts a timestamp within ``SKEW_SECONDS`` of its clock and each nonce once within twice that
window. The caller (idp/connectors/http.py) implements the same few lines: idp/ never imports
baselib/, exactly as it would not import a real population library.
"""

from __future__ import annotations

import hmac
import re

from keys.sm3 import hmac_sm3, sm3

VERSION_LABEL = "YT-BASELIB-HMAC-SM3/1"
TIMESTAMP_HEADER = "X-Baselib-Timestamp"
NONCE_HEADER = "X-Baselib-Nonce"
SIGNATURE_HEADER = "X-Baselib-Signature"
SKEW_SECONDS = 300
NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def string_to_sign(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    return "\n".join([VERSION_LABEL, method.upper(), path, timestamp, nonce, sm3(body).hex()]).encode()


def signature(key: bytes, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    return hmac_sm3(key, string_to_sign(method, path, timestamp, nonce, body)).hex()


def signature_ok(key: bytes, given: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bool:
    return hmac.compare_digest(given.lower().encode(), signature(key, method, path, timestamp, nonce, body).encode())
