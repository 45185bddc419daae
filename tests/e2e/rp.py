"""A tiny relying party ("示例门户", a portal) for the browser test: stdlib http.server on a loopback port.

It does what a portal integrating with Yitong does, and no more:

- ``/``       the portal's page: "登录" (sign in) or, when signed in, who you are and "退出" (sign out);
- ``/login``  starts the authorization code flow with PKCE S256, ``state`` and ``nonce``;
- ``/cb``     the redirect URI: checks ``state`` (bound to the browser's portal cookie) and ``iss`` (RFC 9207),
              exchanges the code at the token endpoint (client_secret_basic, code_verifier), validates the ID
              token with :func:`keys.jose.verify_jwt` against the IdP's JWKS (``jwks_uri`` from discovery),
              then ``iss``/``aud``/``exp``/``iat``, ``nonce`` and ``at_hash``, and shows the ``sub``;
- ``/logout`` RP-initiated logout: forgets the portal session and sends the browser to the IdP's
              ``end_session_endpoint`` with ``id_token_hint``, ``post_logout_redirect_uri`` and ``state``;
- ``/bye``    the post-logout redirect URI: checks the logout ``state``;
- ``POST /bcl`` the back-channel logout URI (OIDC Back-Channel Logout 1.0 §2.5): validates the
              ``logout_token`` (signature against the JWKS, iss, aud, iat/exp, the back-channel
              ``events`` member, ``sid`` or ``sub``, no ``nonce``) and ends the portal sessions of that
              ``sid``; accepted tokens are kept in :attr:`RelyingParty.backchannel_logouts`.

A failed check renders a 400 page with the reason in ``#error`` (and in :attr:`RelyingParty.errors`).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import ssl
import threading
import urllib.error
import urllib.request
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from keys import jose

COOKIE = "portal_session"
TITLE = "示例门户"
SIGN_IN = '<a id="sign-in" class="button" href="/login">登录 <span lang="en">Sign in</span></a>'


class RelyingPartyError(Exception):
    """A check of the flow failed; the message is shown to the user and kept in ``errors``."""


class RelyingParty:
    """Bind at construction (the port is known before the client is registered); :meth:`start` serves."""

    def __init__(self, issuer: str, *, host: str = "localhost", ca_file: str | None = None,
                 scope: str = "openid profile", resource: str | None = None) -> None:
        self.issuer, self.scope, self.resource = issuer, scope, resource  # resource: RFC 8707, for its tokens
        self.context = ssl.create_default_context(cafile=ca_file) if ca_file else None
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.rp = self
        self.base = f"http://{host}:{self.httpd.server_address[1]}"
        self.redirect_uri, self.post_logout_redirect_uri = f"{self.base}/cb", f"{self.base}/bye"
        self.backchannel_logout_uri = f"http://127.0.0.1:{self.httpd.server_address[1]}/bcl"
        self.client_id = self.client_secret = ""
        self.metadata: dict = {}
        self.sessions: dict[str, dict] = {}  # portal cookie -> {"id_token", "claims"} once signed in
        self.pending: dict[str, dict] = {}  # state -> {"session", "nonce", "verifier"}
        self.logouts: dict[str, str] = {}  # logout state -> portal cookie
        self.sign_ins: list[dict] = []  # the claims of every ID token that passed validation, in order
        self.backchannel_logouts: list[dict] = []  # the claims of every logout token accepted, in order
        self.errors: list[str] = []
        self.log: list[str] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self, client_id: str, client_secret: str) -> None:
        """Discover the IdP (it must be up) and serve in a daemon thread."""
        self.client_id, self.client_secret = client_id, client_secret
        self.metadata = self._get_json(f"{self.issuer}/.well-known/openid-configuration")
        if self.metadata.get("issuer") != self.issuer:
            raise RelyingPartyError(f"discovery names issuer {self.metadata.get('issuer')!r}, not {self.issuer!r}")
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="relying-party", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=10)
        self.httpd.server_close()

    # -- back channel --------------------------------------------------------------------------------------
    def _get_json(self, url: str) -> dict:
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        with urllib.request.urlopen(request, timeout=10, context=self.context) as response:
            return json.load(response)

    def _token(self, code: str, verifier: str) -> dict:
        form = urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri,
                          "code_verifier": verifier, **({"resource": self.resource} if self.resource else {})}).encode()
        # RFC 6749 §2.3.1: the client id and secret are form-encoded before they go into Basic.
        basic = base64.b64encode(f"{quote(self.client_id, safe='')}:{quote(self.client_secret, safe='')}".encode())
        request = urllib.request.Request(self.metadata["token_endpoint"], data=form, method="POST", headers={
            "Authorization": "Basic " + basic.decode(), "Accept": "application/json",
            "Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(request, timeout=10, context=self.context) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            raise RelyingPartyError(f"token endpoint said {exc.code}: {exc.read().decode(errors='replace')}") from exc

    def _validate_id_token(self, id_token: str, access_token: str, nonce: str) -> dict:
        jwks = self._get_json(self.metadata["jwks_uri"])
        try:
            header, claims = jose.verify_jwt(id_token, jwks["keys"], algorithms=["ES256"])
            jose.check_claims(claims, issuer=self.issuer, audience=self.client_id)
        except jose.JoseError as exc:
            raise RelyingPartyError(f"the ID token is not valid: {exc}") from exc
        if claims.get("nonce") != nonce:
            raise RelyingPartyError("the ID token's nonce is not the one this sign-in sent")
        if "at_hash" in claims and claims["at_hash"] != jose.half_hash(access_token, header["alg"]):
            raise RelyingPartyError("the ID token's at_hash does not match the access token")
        if not claims.get("sub"):
            raise RelyingPartyError("the ID token has no sub")
        return claims

    def backchannel_logout(self, form: dict[str, str]) -> tuple[int, str]:
        """§2.6 validation of a logout token; (status, body). 200 ends the portal sessions of its sid."""
        try:
            token = form.get("logout_token", "")
            jwks = self._get_json(self.metadata["jwks_uri"])
            _header, claims = jose.verify_jwt(token, jwks["keys"], algorithms=["ES256"])
            jose.check_claims(claims, issuer=self.issuer, audience=self.client_id)
            if "http://schemas.openid.net/event/backchannel-logout" not in claims.get("events", {}):
                raise RelyingPartyError("the logout token has no back-channel logout event")
            if "nonce" in claims or not (claims.get("sid") or claims.get("sub")):
                raise RelyingPartyError("a logout token has sid or sub and never a nonce")
        except (jose.JoseError, RelyingPartyError, KeyError, ValueError) as exc:
            with self._lock:
                self.errors.append(f"back-channel logout: {exc}")
            return 400, json.dumps({"error": "invalid_request", "error_description": str(exc)})
        with self._lock:
            self.backchannel_logouts.append(claims)
            for cookie, signed_in in list(self.sessions.items()):
                if signed_in["claims"].get("sid") == claims.get("sid"):
                    del self.sessions[cookie]
        return 200, ""

    # -- front channel (called by _Handler) -----------------------------------------------------------------
    def handle(self, path: str, query: dict[str, str], cookie: str | None) -> tuple[int, dict[str, str], str]:
        """(status, headers, HTML body) for one GET."""
        headers: dict[str, str] = {}
        if cookie is None or not cookie.isascii() or len(cookie) > 64:
            cookie = secrets.token_urlsafe(24)
            headers["Set-Cookie"] = f"{COOKIE}={cookie}; Path=/; HttpOnly; SameSite=Lax"
        try:
            if path == "/":
                return 200, headers, self._home(cookie)
            if path == "/login":
                return 302, headers | {"Location": self._authorization_url(cookie)}, ""
            if path == "/cb":
                return 200, headers, self._callback(cookie, query)
            if path == "/logout":
                return 302, headers | {"Location": self._end_session_url(cookie)}, ""
            if path == "/bye":
                return 200, headers, self._bye(cookie, query)
            return 404, headers, _page("找不到页面 Not found", "<p>找不到页面 <span lang='en'>Not found</span></p>")
        except RelyingPartyError as exc:
            with self._lock:
                self.errors.append(str(exc))
            body = f'<p id="error" role="alert">登录失败 Sign-in failed: {html.escape(str(exc))}</p>'
            return 400, headers, _page("登录失败 Sign-in failed", body + '<p><a href="/">返回 Back</a></p>')

    def _home(self, cookie: str, heading: str = "") -> str:
        signed_in = self.sessions.get(cookie)
        if signed_in is None:
            return _page(TITLE, f'<p id="status">未登录 <span lang="en">Not signed in</span></p><p>{SIGN_IN}</p>')
        claims = signed_in["claims"]
        status = heading or '已登录 <span lang="en">Signed in</span>'
        rows = "".join(f"<dt>{label}</dt><dd id='{key}'>{html.escape(str(claims.get(key, '')))}</dd>"
                       for key, label in (("sub", "用户标识 sub"), ("preferred_username", "用户名 Username")))
        if isinstance(claims.get("org"), dict):  # scope org: whom the person acts for (DESIGN.md token contract)
            org = claims["org"]
            rows += (f"<dt>办事单位 Acting for</dt><dd id='org'><span id='org-name'>{html.escape(str(org.get('name')))}"
                     f"</span> <code id='org-uscc'>{html.escape(str(org.get('uscc')))}</code> "
                     f"<span id='org-roles'>{html.escape(' '.join(map(str, org.get('roles') or [])))}</span></dd>")
        sign_out = '<a id="sign-out" class="button" href="/logout">退出 <span lang="en">Sign out</span></a>'
        return _page(TITLE, f'<p id="status">{status}</p><dl>{rows}</dl><p>{sign_out}</p>')

    def _authorization_url(self, cookie: str) -> str:
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(48)  # RFC 7636 §4.1: 43 to 128 characters
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        with self._lock:
            self.pending[state] = {"session": cookie, "nonce": nonce, "verifier": verifier}
        return self.metadata["authorization_endpoint"] + "?" + urlencode({
            "response_type": "code", "client_id": self.client_id, "redirect_uri": self.redirect_uri,
            "scope": self.scope, "state": state, "nonce": nonce, "code_challenge": challenge,
            "code_challenge_method": "S256", **({"resource": self.resource} if self.resource else {})})

    def _callback(self, cookie: str, query: dict[str, str]) -> str:
        with self._lock:
            pending = self.pending.pop(query.get("state", ""), None)
        if pending is None or pending["session"] != cookie:
            raise RelyingPartyError("unknown state: this sign-in was not started in this browser")
        if query.get("iss") != self.issuer:  # RFC 9207, advertised in discovery
            raise RelyingPartyError(f"the response's iss {query.get('iss')!r} is not {self.issuer!r}")
        if "error" in query:
            raise RelyingPartyError(f"{query['error']}: {query.get('error_description', '')}")
        tokens = self._token(query.get("code", ""), pending["verifier"])
        if tokens.get("token_type", "").lower() != "bearer" or "id_token" not in tokens:
            raise RelyingPartyError(f"unexpected token response: {sorted(tokens)}")
        claims = self._validate_id_token(tokens["id_token"], tokens.get("access_token", ""), pending["nonce"])
        with self._lock:
            self.sessions[cookie] = {"id_token": tokens["id_token"], "claims": claims,
                                     "access_token": tokens.get("access_token")}
            self.sign_ins.append(claims)
        return self._home(cookie, heading='登录成功 <span lang="en">You are signed in</span>')

    def _end_session_url(self, cookie: str) -> str:
        with self._lock:
            signed_in = self.sessions.pop(cookie, None)
        if signed_in is None:
            raise RelyingPartyError("not signed in")
        state = secrets.token_urlsafe(24)
        with self._lock:
            self.logouts[state] = cookie
        return self.metadata["end_session_endpoint"] + "?" + urlencode({
            "id_token_hint": signed_in["id_token"], "client_id": self.client_id,
            "post_logout_redirect_uri": self.post_logout_redirect_uri, "state": state})

    def _bye(self, cookie: str, query: dict[str, str]) -> str:
        with self._lock:
            started_by = self.logouts.pop(query.get("state", ""), None)
        if started_by != cookie:
            raise RelyingPartyError("unknown logout state")
        return _page(TITLE, f'<p id="status">已退出 <span lang="en">You are signed out</span></p><p>{SIGN_IN}</p>')


class _Handler(BaseHTTPRequestHandler):
    server_version = "portal/1"

    def do_GET(self) -> None:
        rp: RelyingParty = self.server.rp
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        jar = SimpleCookie(self.headers.get("Cookie", ""))
        status, headers, body = rp.handle(url.path, query, jar[COOKIE].value if COOKIE in jar else None)
        payload = body.encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self) -> None:
        rp: RelyingParty = self.server.rp
        length = min(int(self.headers.get("Content-Length") or 0), 64 * 1024)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode(errors="replace")).items()}
        status, body = rp.backchannel_logout(form) if urlsplit(self.path).path == "/bcl" else (404, "")
        payload = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args) -> None:
        self.server.rp.log.append(format % args)


def _page(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body {{ font-family: system-ui, "Noto Sans CJK SC", sans-serif; margin: 1rem; }}
dd {{ margin: 0 0 .5rem; word-break: break-all; font-family: monospace; }}
.button {{ display: inline-block; padding: .7rem 1.5rem; background: #1565c0; color: #fff; border-radius: .3rem;
           text-decoration: none; }}</style></head>
<body><h1>{TITLE} <span lang="en">Demo portal</span></h1>{body}</body></html>"""
