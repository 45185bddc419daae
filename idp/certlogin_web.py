"""The certificate sign-in pages (idp/certlogin.py does the checks).

- ``GET /login/certificate?return_to=...``: a fresh single-use challenge, the command that signs
  it (the USB-key driver's stand-in) and a box for the answer;
- ``POST /login/certificate``: CSRF, the challenge of this browser (used up whatever happens),
  a per-address rate limit, then every check; success starts an SSO session at loa:4;
- ``GET /login/certificate/tls?return_to=...``: mutual TLS terminated at a reverse proxy, which
  passes the client certificate (URL-encoded PEM, as nginx's ``$ssl_client_escaped_cert``) in
  ``YITONG_CERT_LOGIN_HEADER``; honoured only from ``YITONG_CERT_LOGIN_PROXIES``.

An organisation's certificate (idp/certlogin.py says why it never starts a session) proves the
organisation for the person signed in in this browser, if they may act for it (``acting.proven``;
else 403 and ``acting.refused``). Nobody signed in yet: the proof waits in this browser for
:data:`PENDING_SECONDS` while the person signs in as themselves, and
``GET /login/certificate/organisation`` then applies it (the same check) and goes on to
``return_to``.
"""

from __future__ import annotations

import time
from urllib.parse import unquote, urlencode

from flask import render_template, request, session

from idp.acr import LOA_4
from idp.agents import CERTIFICATE
from idp.agents_web import prove_organisation
from idp.certlogin import AMR, CHALLENGE_SECONDS, CertLoginError, decode_answer, load_certificate, new_challenge
from idp.i18n import language, t
from idp.web import (
    audit,
    bp,
    csrf_failure,
    csrf_ok,
    csrf_token,
    current_session,
    error_page,
    safe_return_to,
    services,
    to_sign_in,
)

ORG_PENDING = "org_cert_pending"
PENDING_SECONDS = 600  # time to sign in as oneself after presenting an organisation's certificate


def _page(return_to: str, error: CertLoginError | None = None, status: int = 200):
    challenge = new_challenge(services()["issuer"])
    session["cert_challenge"] = {"value": challenge, "at": time.time()}
    message = None if error is None else (error.en if language() == "en" else error.zh)
    return render_template("idp/certlogin.html", csrf=csrf_token(), return_to=return_to, challenge=challenge,
                           error=message), status


def _refuse(return_to: str, error: CertLoginError, **fields):
    audit("login.failure", method="certificate", reason=error.code, **fields)
    return _page(return_to, error, 401)


def _signed_in(result, return_to: str, **fields):
    from idp.pages import _signed_in as start

    if result.is_organisation:
        return _organisation_proven(result, return_to, **fields)
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


def _organisation_proven(result, return_to: str, **fields):
    sso = current_session()
    if sso is not None:
        return prove_organisation(sso, result.uscc, CERTIFICATE, result.serial_hex, return_to,
                                 key=result.key_algorithm, **fields)
    session[ORG_PENDING] = {"uscc": result.uscc, "name": result.organisation_name, "serial": result.serial_hex,
                            "key": result.key_algorithm, "at": time.time(), "return_to": return_to}
    audit("org_certificate.presented", uscc=result.uscc, serial=result.serial_hex, key=result.key_algorithm,
          **fields)
    sign_in = "/login?" + urlencode({"return_to": "/login/certificate/organisation"})
    return render_template("idp/certlogin_org.html", name=result.organisation_name, uscc=result.uscc,
                           sign_in=sign_in, minutes=PENDING_SECONDS // 60), 200, {"Cache-Control": "no-store"}


@bp.get("/login/certificate/organisation")
def login_certificate_organisation():
    """After signing in as oneself: apply the organisation certificate presented before."""
    pending = session.get(ORG_PENDING)
    if not pending or time.time() - pending["at"] > PENDING_SECONDS:
        session.pop(ORG_PENDING, None)
        return error_page(t("单位证书验证已失效", "The organisation certificate check has expired"),
                          t("请重新用单位证书签名。", "Sign a new challenge with the organisation's certificate."), 400)
    sso = current_session()
    if sso is None:
        return to_sign_in("/login/certificate/organisation")
    session.pop(ORG_PENDING, None)
    return prove_organisation(sso, pending["uscc"], CERTIFICATE, pending["serial"],
                              safe_return_to(pending["return_to"]), key=pending["key"])


@bp.route("/login/certificate", methods=["GET", "POST"])
def login_certificate():
    return_to = safe_return_to(request.values.get("return_to"))
    if request.method != "POST":  # GET, or HEAD (Flask answers it as GET without a body)
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
    if not result.is_organisation:
        audit("login.certificate", sub=result.sub, serial=result.serial_hex, key=result.key_algorithm)
    return _signed_in(result, return_to)


@bp.get("/login/certificate/tls")
def login_certificate_tls():
    return_to = safe_return_to(request.values.get("return_to"))
    idp = services()
    # Only a configured proxy may vouch for TLS: the socket's peer, before X-Forwarded-For handling.
    peer = request.environ.get("werkzeug.proxy_fix.orig", {}).get("REMOTE_ADDR", request.remote_addr)
    if peer not in idp["certlogin_proxies"]:
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
    if not result.is_organisation:
        audit("login.certificate", sub=result.sub, serial=result.serial_hex, key=result.key_algorithm, tls=True)
    return _signed_in(result, return_to, tls=True)


def certificate_login_url(return_to: str) -> str:
    return "/login/certificate?" + urlencode({"return_to": return_to})
