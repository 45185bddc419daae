"""Resource indicators (RFC 8707): which resource server an access token is for.

Authlib leaves RFC 8707 unimplemented. A client names the resource with ``resource`` at the
authorization and/or token endpoint; the token's ``aud`` is that resource (DESIGN.md token
contract: the seal API is ``${YITONG_ISSUER}/seal``). Only resources this IdP knows are accepted
(§2: ``invalid_target`` otherwise), so no client can mint tokens for an arbitrary audience.
"""

from __future__ import annotations

from authlib.oauth2 import OAuth2Error


class InvalidTargetError(OAuth2Error):
    """RFC 8707 §2: the requested resource is invalid, unknown or malformed."""

    error = "invalid_target"
    status_code = 400


def known_resources(issuer: str, seal_audience: str | None = None) -> frozenset[str]:
    """This issuer, the seal API and the licence API (``${YITONG_ISSUER}/licences``)."""
    return frozenset({issuer, seal_audience or f"{issuer}/seal", f"{issuer}/licences"})


def check_resource(values: list[str], known: frozenset[str], **error_kwargs) -> str | None:
    """The one requested resource (None when absent); InvalidTargetError for anything else."""
    if not values:
        return None
    if len(values) > 1:
        raise InvalidTargetError("one resource per token is supported", **error_kwargs)
    if values[0] not in known:
        raise InvalidTargetError(f"unknown resource {values[0]!r}", **error_kwargs)
    return values[0]
