"""Inbound identity brokering: sign in with an upstream OpenID provider (the national
government-service platform), accounts linked only by the keyed hash of a verified ID number."""

from idp.federation.upstreams import DEFAULT_CLAIMS, Upstream, UpstreamError, Upstreams

__all__ = ["DEFAULT_CLAIMS", "Upstream", "UpstreamError", "Upstreams"]
