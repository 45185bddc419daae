"""What the IdP's route modules (idp/*/routes.py) share: how a page blueprint is made, the SSO
session cookie, CSRF, audit, error pages and safe return targets."""

from __future__ import annotations

import hmac
import re
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

from flask import Blueprint, redirect, render_template, request, session

from idp import i18n, words
from idp.i18n import t
from idp.identity import mask_phone
from idp.services import services


def remember_display_choices(response):
    """after_request for the whole app (idp/app.py): the page's language and large-text choices."""
    return i18n.remember_choice(response, secure=services().secure)


def page_blueprint(name: str) -> Blueprint:
    """A blueprint for pages people see: the IdP's templates, the language choice (idp/i18n.py; the
    choices are remembered app-wide by :func:`remember_display_choices`)."""
    bp = Blueprint(name, __name__, template_folder="templates")
    bp.context_processor(i18n.template_globals)
    return bp


SSO_COOKIE = "yitong_sso"


def current_session():
    return services().accounts.session(request.cookies.get(SSO_COOKIE))


def signed_in_account():
    """The SSO session of a person whose account still exists, else None."""
    sso = current_session()
    return sso if sso is not None and services().accounts.get(sso.sub) is not None else None


def to_sign_in(return_to: str):
    """To the sign-in page, and back to ``return_to`` afterwards (one of :func:`safe_return_to`'s targets)."""
    return redirect("/login?" + urlencode({"return_to": return_to}))


def audit(event: str, **fields) -> None:
    services().audit.record(event, ip=request.remote_addr, user_agent=request.user_agent.string, **fields)


def error_page(title: str, detail: str, status: int = 400, *, back: tuple[str, str] | None = None,
               technical: str | None = None):
    """An error page in the site frame, in the page's language, with a way back: ``back`` is
    (URL, link text), else the site's home; ``technical`` (an OAuth error code, a request id) is
    folded below for whoever the person asks for help."""
    href, label = back or ("/", t("返回首页", "Back to the home page"))
    return render_template("idp/error.html", title=title, detail=detail, back_href=href, back_label=label,
                           technical=technical), status


def oauth_error_page(code: str, description: str | None = None, client=None, status: int = 400):
    """An authorization error that cannot go back to the client (RFC 6749 §4.1.2.1) as a sentence
    and a next step: back to the service when its address is registered (its client_uri, else the
    origin of its registered redirect URI), else our home page, which lists where to go."""
    # Authlib says a wrong redirect URI as invalid_request "... redirect_uri ...": the person needs to know which.
    about_redirect = code == "invalid_request" and "redirect" in (description or "").lower()
    detail = f"{words.oauth_error_words('invalid_redirect_uri' if about_redirect else code)} {words.NEXT_STEP}"
    back = None
    portal = _portal_of(client)
    if portal:
        back = (portal, t(f"返回{client.name}", f"Back to {client.name}"))
    technical = f"{code}: {description}" if description else code
    return error_page(t("无法登录", "Cannot sign in"), detail, status, back=back, technical=technical)


def asking_client(return_to: str | None) -> dict | None:
    """Which service a sign-in is for (issue 18 item 3): the registered client named by the
    authorization request we return to, with its logo's URL when an operator set one."""
    if not return_to or not return_to.startswith("/authorize?"):
        return None
    client_id = parse_qs(urlsplit(return_to).query).get("client_id", [""])[0]
    client = services().clients.get(client_id) if client_id else None
    return client_view(client)


def client_view(client) -> dict | None:
    if client is None:
        return None
    logo = f"/clients/{client.client_id}/logo" if services().clients.has_logo(client.client_id) else None
    return {"client_id": client.client_id, "name": client.name, "logo": logo}


def has_second_factor(user) -> bool:
    """An authenticator app or a passkey (either makes a loa:3 sign-in, idp/acr.py SECOND_FACTORS)."""
    return user.has_totp or services().passkeys.has_any(user.sub)


def masked_account(user) -> str:
    """Who is signed in, as the person recognises it without showing it whole: the username, else
    the masked mobile number (138****5678)."""
    if user.username:
        return user.username
    return mask_phone(user.phone) if user.phone else t("您的账号", "your account")


def _portal_of(client) -> str | None:
    """The service's registered home (client_uri), else the origin of its first redirect URI."""
    if client is None:
        return None
    home = urlsplit(client.metadata.get("client_uri") or "")
    if home.scheme in ("https", "http") and home.netloc:
        return client.metadata["client_uri"]
    for uri in client.redirect_uris:
        parts = urlsplit(uri)
        if parts.scheme in ("https", "http") and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}/"
    return None


def sign_in_ended_page(title: str):
    """A step of /authorize (consent, organisation choice) posted after the sign-in ended."""
    return error_page(title, t("您的登录已结束，请从门户重新开始。",
                               "Your sign-in has ended; start again from the portal."))


def csrf_token() -> str:
    session["csrf"] = session.get("csrf") or secrets.token_urlsafe(16)
    return session["csrf"]


def csrf_ok() -> bool:
    """Synchroniser token (OWASP CSRF cheat sheet): the form's token must match the session's."""
    return hmac.compare_digest(request.form.get("csrf", ""), session.get("csrf") or "-")


def csrf_failure():
    return error_page(t("请求已过期", "Request expired"),
                      t("安全校验失败，请刷新页面后重试。", "CSRF check failed: reload the page and try again."), 400)


def flow_id() -> str:
    return request.full_path


# Where a sign-in may return to besides /authorize: our own account pages, and the step that applies
# an organisation certificate presented before signing in (idp/certlogin/routes.py), and proving an
# organisation with its e-business licence (idp/certlogin/routes.py).
RETURN_PATHS = re.compile(r"^/(account(/[a-z]+)*|login/certificate/organisation|login/licence)$")


def safe_return_to(value: str | None) -> str:
    """Only our own pages are return targets (no open redirects): the authorization endpoint with
    its query, or one of :data:`RETURN_PATHS` without one; anything else is ``/``."""
    if not value or "\\" in value:
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.fragment:
        return "/"
    if value.startswith("/authorize?") or (not parts.query and RETURN_PATHS.match(parts.path)):
        return value
    return "/"

