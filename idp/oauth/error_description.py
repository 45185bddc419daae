"""Request values that an OAuth error may quote, checked before anything quotes them.

RFC 6749 §4.1.2.1 and §5.2 allow an ``error_description`` only %x20-21 / %x23-5B / %x5D-7E
(printable ASCII without ``"`` and ``\\``), and Authlib refuses to build an error whose
description holds anything else — a ValueError, hence a 500 — while its own messages quote the
request's ``redirect_uri`` ("Redirect URI … is not supported by client") and ``response_type``,
and ours quote ``resource`` (idp/oauth/resource_indicators.py). None of these may hold such a
character anyway: a redirect URI and a resource indicator are URIs (RFC 3986 §2: ASCII, no
``"``, ``\\``, controls, DEL or spaces unencoded; RFC 8707 §2) and a response type is a list of
registered names (RFC 6749 §3.1.1). So a value holding one is malformed, and is refused as
``invalid_request`` without being quoted.
"""

from __future__ import annotations

from authlib.oauth2.base import invalid_error_characters

# The parameters of the authorization, PAR and token endpoints that an error message quotes.
QUOTED_PARAMETERS = ("redirect_uri", "response_type", "resource")


def malformed_parameter(params) -> str | None:
    """The name of the first quoted parameter (any of its values, for a MultiDict) that an error
    description cannot carry, else None."""
    for name in QUOTED_PARAMETERS:
        values = params.getlist(name) if hasattr(params, "getlist") else [params.get(name) or ""]
        if any(invalid_error_characters(value) for value in values):
            return name
    return None


def description(name: str) -> str:
    """The error description for a malformed ``name`` (which never quotes the value)."""
    return f"{name} is malformed: it holds characters a URI or a response type cannot hold"
