"""Security headers for every response of the app, set in one place (issue 12, item 6).

HTML pages get a Content-Security-Policy whose scripts and styles must carry this response's
nonce (templates write ``nonce="{{ csp_nonce() }}"`` on their ``<style>`` and ``<script>``), framing
is refused twice (CSP ``frame-ancestors`` and the older ``X-Frame-Options``), and they are not
stored by caches: sign-in pages hold CSRF tokens, account pages personal data, /account/mfa the
TOTP secret. A page that needs something else sets its own header first (/verify/ renders reports
with computed inline styles, so it keeps its own CSP); these are defaults, never overrides.

Every response: ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer`` (URLs of the
sign-in flow carry ``state``, ``login_hint`` and return addresses that other sites need not see),
and with an https issuer ``Strict-Transport-Security`` (RFC 6797; browsers ignore it over http).
"""

from __future__ import annotations

import secrets

from flask import Flask, g

HSTS = "max-age=31536000"


def csp_nonce() -> str:
    """This response's nonce (made on first use in the request)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(18)
    return g.csp_nonce


def content_security_policy(nonce: str) -> str:
    # media-src: the CAPTCHA's audio form (/captcha/audio). No form-action: forms post here, but the
    # answer redirects to (or, for response_mode=form_post, posts to) the client's redirect URI, which
    # browsers would check against form-action too.
    return (f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
            "img-src 'self' data:; media-src 'self'; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'")


def install(app: Flask, *, https: bool) -> None:
    app.jinja_env.globals["csp_nonce"] = csp_nonce

    @app.after_request
    def _security_headers(response):
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "no-referrer")
        if https:
            headers.setdefault("Strict-Transport-Security", HSTS)
        if response.mimetype == "text/html":
            headers.setdefault("Content-Security-Policy", content_security_policy(csp_nonce()))
            headers.setdefault("X-Frame-Options", "DENY")
            headers.setdefault("Cache-Control", "no-store")
        return response
