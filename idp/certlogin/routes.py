"""The certificate sign-in pages (idp/certlogin/certificates.py does the checks).

- ``GET /login/certificate?return_to=...``: a fresh single-use challenge, the command that signs
  it (the USB-key driver's stand-in) and a box for the answer;
- ``POST /login/certificate``: CSRF, the challenge of this browser (used up whatever happens),
  a per-address rate limit, then every check; success starts an SSO session at loa:4;
- ``GET /login/certificate/tls?return_to=...``: mutual TLS terminated at a reverse proxy, which
  passes the client certificate (URL-encoded PEM, as nginx's ``$ssl_client_escaped_cert``) in
  ``YITONG_CERT_LOGIN_HEADER``; honoured only from ``YITONG_CERT_LOGIN_PROXIES``.

An organisation's certificate (idp/certlogin/certificates.py says why it never starts a session) proves the
organisation for the person signed in in this browser, if they may act for it (``acting.proven``;
else 403 and ``acting.refused``). Nobody signed in yet: the proof waits in this browser for
:data:`PENDING_SECONDS` while the person signs in as themselves, and
``GET /login/certificate/organisation`` then applies it (the same check) and goes on to
``return_to``.
"""

from __future__ import annotations

import time
from urllib.parse import unquote, urlencode

import segno
from flask import render_template, request, session
from markupsafe import Markup

from idp.acr import LOA_4
from idp.agents.routes import prove_organisation
from idp.agents.store import CERTIFICATE, LICENCE
from idp.certlogin.certificates import (
    AMR,
    CHALLENGE_SECONDS,
    CertLoginError,
    decode_answer,
    load_certificate,
    new_challenge,
)
from idp.i18n import language, t
from idp.services import services
from idp.web import (
    audit,
    csrf_failure,
    csrf_ok,
    csrf_token,
    current_session,
    error_page,
    page_blueprint,
    safe_return_to,
    to_sign_in,
)

bp = page_blueprint("idp_certlogin")

ORG_PENDING = "org_cert_pending"
PENDING_SECONDS = 600  # time to sign in as oneself after presenting an organisation's certificate


def _page(return_to: str, error: CertLoginError | None = None, status: int = 200):
    challenge = new_challenge(services().issuer)
    session["cert_challenge"] = {"value": challenge, "at": time.time()}
    message = None if error is None else (error.en if language() == "en" else error.zh)
    return render_template("idp/certlogin.html", csrf=csrf_token(), return_to=return_to, challenge=challenge,
                           error=message), status


def _refuse(return_to: str, error: CertLoginError, **fields):
    audit("login.failure", method="certificate", reason=error.code, **fields)
    return _page(return_to, error, 401)


def _signed_in(result, return_to: str, **fields):
    from idp.signin.routes import _signed_in as start

    if result.is_organisation:
        return _organisation_proven(result, return_to, **fields)
    user = services().accounts.get(result.sub)
    if user is None:
        return _refuse(return_to, CertLoginError("not_linked", "账号已停用", "the account is disabled"))
    return start(user, AMR, return_to, acr=LOA_4)


def _limited(return_to: str):
    decision = services().certlogin_limiter.hit(request.remote_addr or "unknown")
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
            not services().certlogin_replay.first_use(pending["value"], CHALLENGE_SECONDS):
        return _refuse(return_to, CertLoginError("challenge_expired", "挑战码已失效，请用新的挑战码重新签名",
                                                 "the challenge has expired or was used; sign the new one"))
    try:
        certificate, signature = decode_answer(request.form.get("answer", ""))
        result = services().certlogin.login(certificate, signature, pending["value"])
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
    if peer not in idp.certlogin_proxies:
        return _page(return_to, CertLoginError("no_tls", "此地址未配置双向 TLS 证书登录，请用挑战签名方式登录",
                                               "mutual TLS sign-in is not set up for this address; "
                                               "sign the challenge instead"), 403)
    limited = _limited(return_to)
    if limited is not None:
        return limited
    raw = request.headers.get(idp.certlogin_header, "")
    if not raw:
        return _refuse(return_to, CertLoginError("no_certificate", "浏览器没有出示证书",
                                                 "the browser presented no certificate"))
    try:
        result = idp.certlogin.login(load_certificate(unquote(raw).encode()), None, None)
    except CertLoginError as error:
        return _refuse(return_to, error, tls=True)
    if not result.is_organisation:
        audit("login.certificate", sub=result.sub, serial=result.serial_hex, key=result.key_algorithm, tls=True)
    return _signed_in(result, return_to, tls=True)


def certificate_login_url(return_to: str) -> str:
    return "/login/certificate?" + urlencode({"return_to": return_to})


# -- sign-in with the electronic business licence: /login/licence --------------------------------------------------
# Proving an organisation with its electronic business licence (电子营业执照登录), through the
# e-licence system's connector (idp/connectors; the reference stand-in is baselib/licence.py).
#
# Like an organisation's certificate (idp/certlogin/certificates.py), the licence signs nobody in: the person
# signs in as themselves first, then
#
# - ``GET /login/licence?return_to=...`` starts a presentation at the e-licence system and shows its
#   QR code (and link) for the holder's e-licence app;
# - ``POST /login/licence`` (the person says they confirmed on the phone) reads the result once. It
#   is honoured only if the holder the e-licence system names is this signed-in person (their
#   verified ID number, compared by keyed hash) and the person may already act for the organisation
#   (idp/agents/routes.py ``prove_organisation``); the organisation is then proven (``licence``) for the
#   rest of this sign-in and tokens acting for it say ``org.acr`` loa:4.
#
# The system unavailable is "try later", never a proof; a declined, expired or already-read
# presentation starts again.
PENDING = "licence_pending"
RETURN = "licence_return_to"


def _system():
    return services().connectors.business_licence


def _unavailable():
    return error_page(t("电子营业执照系统暂不可用", "The e-business-licence system is unavailable"),
                      t("请稍后再试，或用单位数字证书验证。", "Try again later, or prove the organisation with its "
                                                          "certificate."), 503)


def _licence_page(pending: dict, notice: str | None = None, status: int = 200):
    qr = Markup(segno.make(pending["scan_url"], error="m").svg_inline(scale=5, title="QR"))  # noqa: S704 (our own SVG)
    return render_template("idp/licencelogin.html", qr=qr, scan_url=pending["scan_url"], csrf=csrf_token(),
                           notice=notice, minutes=max(1, int(pending["expires"] - time.time()) // 60)), \
        status, {"Cache-Control": "no-store"}


@bp.get("/login/licence")
def login_licence():
    if "return_to" in request.args:
        return_to = safe_return_to(request.args.get("return_to"))
    else:  # back from signing in
        return_to = safe_return_to(session.pop(RETURN, None))
    sso = current_session()
    if sso is None:
        session[RETURN] = return_to
        return to_sign_in("/login/licence")
    system = _system()
    if system is None:
        return error_page(t("未接入电子营业执照系统", "No e-business-licence system is set up"),
                          t("本平台未配置电子营业执照系统。", "This service is not connected to an e-licence system."),
                          404)
    presentation = system.start_presentation(f"一通 Yitong ({services().issuer})")
    if presentation is None:
        audit("licence.unavailable", sub=sso.sub)
        return _unavailable()
    pending = {"id": presentation.presentation_id, "scan_url": presentation.scan_url, "sid": sso.sid,
               "expires": presentation.expires_at.timestamp(), "return_to": return_to}
    session[PENDING] = pending
    return _licence_page(pending)


@bp.post("/login/licence")
def login_licence_result():
    if not csrf_ok():
        return csrf_failure()
    sso, pending = current_session(), session.get(PENDING)
    if sso is None or not pending or pending["sid"] != sso.sid or time.time() > pending["expires"]:
        session.pop(PENDING, None)
        return error_page(t("营业执照出示已失效", "The licence presentation has expired"),
                          t("请重新开始。", "Start again."), 400)
    decision = services().licence_limiter.hit(request.remote_addr or "unknown")
    if not decision.allowed:
        return _licence_page(pending, t("操作过于频繁，请稍后再试。", "Too many attempts; wait a moment."), 429)
    presented = _system().presentation(pending["id"])
    if presented is None:
        audit("licence.unavailable", sub=sso.sub)
        return _licence_page(pending, t("电子营业执照系统暂不可用，请稍后再点继续。",
                                "The e-licence system is unavailable; press continue again later."), 503)
    if presented.status == "pending":
        return _licence_page(pending, t("尚未在电子营业执照应用中确认。", "Not confirmed in the e-licence app yet."))
    session.pop(PENDING, None)
    if presented.status != "confirmed":
        return error_page(t("营业执照未出示", "The licence was not presented"),
                          t("出示已被拒绝或已失效，请重新开始。", "The presentation was declined or has expired; "
                                                            "start again."), 400)
    reference = str(presented.evidence.get("reference", ""))[:64]
    holder_sub = services().identities.sub_for_id_number(presented.holder_id_number)
    if holder_sub != sso.sub:
        audit("acting.refused", sub=sso.sub, uscc=presented.uscc, method=LICENCE, reference=reference,
              reason="holder_is_someone_else")
        return error_page(t("持照人不是您本人", "The licence was presented by someone else"),
                          t("营业执照的出示人与当前登录的账号不是同一人。请持照人本人登录后再出示。",
                            "The person who presented the licence is not the one signed in here. The holder "
                            "signs in as themselves and presents it."), 403)
    if services().organisations.get(presented.uscc) is None:
        audit("acting.refused", sub=sso.sub, uscc=presented.uscc, method=LICENCE, reference=reference,
              reason="organisation_not_registered")
        return error_page(t("单位未登记", "The organisation is not registered"),
                          t("该单位未在本平台登记，请法定代表人先在“我的单位”中登记。",
                            "This organisation is not registered here: its legal representative registers it "
                            "first."), 403)
    return prove_organisation(sso, presented.uscc, LICENCE, reference, safe_return_to(pending["return_to"]))
