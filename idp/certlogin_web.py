"""The certificate sign-in pages (idp/certlogin.py does the checks).

- ``GET /login/certificate?return_to=...``: a fresh single-use challenge, the command that signs
  it (the USB-key driver's stand-in) and a box for the answer;
- ``POST /login/certificate``: CSRF, the challenge of this browser (used up whatever happens),
  a per-address rate limit, then every check; success starts an SSO session at loa:4;
- ``GET /login/certificate/tls?return_to=...``: mutual TLS terminated at a reverse proxy, which
  passes the client certificate (URL-encoded PEM, as nginx's ``$ssl_client_escaped_cert``) in
  ``YITONG_CERT_LOGIN_HEADER``; honoured only from ``YITONG_CERT_LOGIN_PROXIES``.
"""

from __future__ import annotations

import time
from urllib.parse import unquote, urlencode

from flask import render_template, request, session

from idp.acr import LOA_4
from idp.certlogin import AMR, CHALLENGE_SECONDS, CertLoginError, decode_answer, load_certificate, new_challenge
from idp.i18n import language
from idp.web import audit, bp, csrf_failure, csrf_ok, csrf_token, safe_return_to, services


def _page(return_to: str, error: CertLoginError | None = None, status: int = 200):
    challenge = new_challenge(services()["issuer"])
    session["cert_challenge"] = {"value": challenge, "at": time.time()}
    message = None if error is None else (error.en if language() == "en" else error.zh)
    return render_template("idp/certlogin.html", csrf=csrf_token(), return_to=return_to, challenge=challenge,
                           error=message), status


def _refuse(return_to: str, error: CertLoginError, **fields):
    audit("login.failure", method="certificate", reason=error.code, **fields)
    return _page(return_to, error, 401)


def _signed_in(result, return_to: str):
    from idp.pages import _signed_in as start

    user = services()["accounts"].get(result.sub)
    if user is None:
        return _refuse(return_to, CertLoginError("not_linked", "账号已停用", "the account is disabled"))
    return start(user, AMR, return_to, acr=LOA_4)


def _limited(return_to: str):
    decision = services()["certlogin_limiter"].hit(request.remote_addr or "unknown")
    if decision.allowed:
        return None
    audit("login.throttled", method="certificate")
    page, status = _page(return_to, CertLoginError("throttled", "尝试次数过多，请稍后再试",
                                                   "too many attempts; try again later"), 429)
    return page, status, {"Retry-After": str(int(decision.retry_after_seconds) or 1)}


@bp.route("/login/certificate", methods=["GET", "POST"])
def login_certificate():
    return_to = safe_return_to(request.values.get("return_to"))
    if request.method == "GET":
        return _page(return_to)
    if not csrf_ok():
        return csrf_failure()
    pending = session.pop("cert_challenge", None)  # single use, whatever the outcome
    limited = _limited(return_to)
    if limited is not None:
        return limited
    if not pending or time.time() - pending["at"] > CHALLENGE_SECONDS or \
            not services()["certlogin_replay"].first_use(pending["value"], CHALLENGE_SECONDS):
        return _refuse(return_to, CertLoginError("challenge_expired", "挑战码已失效，请用新的挑战码重新签名",
                                                 "the challenge has expired or was used; sign the new one"))
    try:
        certificate, signature = decode_answer(request.form.get("answer", ""))
        result = services()["certlogin"].login(certificate, signature, pending["value"])
    except CertLoginError as error:
        return _refuse(return_to, error)
    audit("login.certificate", sub=result.sub, serial=result.serial_hex, key=result.key_algorithm)
    return _signed_in(result, return_to)


@bp.get("/login/certificate/tls")
def login_certificate_tls():
    return_to = safe_return_to(request.values.get("return_to"))
    idp = services()
    if request.remote_addr not in idp["certlogin_proxies"]:  # only a configured proxy may vouch for TLS
        return _page(return_to, CertLoginError("no_tls", "此地址未配置双向 TLS 证书登录，请用挑战签名方式登录",
                                               "mutual TLS sign-in is not set up for this address; "
                                               "sign the challenge instead"), 403)
    limited = _limited(return_to)
    if limited is not None:
        return limited
    raw = request.headers.get(idp["certlogin_header"], "")
    if not raw:
        return _refuse(return_to, CertLoginError("no_certificate", "浏览器没有出示证书",
                                                 "the browser presented no certificate"))
    try:
        result = idp["certlogin"].login(load_certificate(unquote(raw).encode()), None, None)
    except CertLoginError as error:
        return _refuse(return_to, error, tls=True)
    audit("login.certificate", sub=result.sub, serial=result.serial_hex, key=result.key_algorithm, tls=True)
    return _signed_in(result, return_to)


def certificate_login_url(return_to: str) -> str:
    return "/login/certificate?" + urlencode({"return_to": return_to})
