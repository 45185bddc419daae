"""CAS for business systems that speak it: CAS protocol 3.0 (Apereo) service tickets, and the
"ticket → token" exchange of provincial practice (e.g. Shandong DB37/T 3448.8: log-in page →
ticket → token → user information → legal-person account switch → log-out).

One mechanism, not a second login system: a CAS service ticket IS an authorization code of the
code flow, issued through the whole /authorize pipeline (sign-in, ``acr``, consent, the organisation
chooser that is the legal-person account switch) and written ``ST-<code>`` (CAS 3.0 §3.1.1 wants the
prefix). A client is a CAS service when an operator registers it with ``--cas`` (confidential, with
the ``authorization_code`` grant): its redirect URIs are its service URLs, matched exactly.

- ``GET /cas/login?service=S[&renew=true][&gateway=true]`` → /authorize for the client owning S
  (``prompt=login`` for renew, ``prompt=none`` for gateway), answered ``S?ticket=ST-…`` — nothing
  else is added to S, as CAS clients rebuild the service URL by removing ``ticket``. gateway with
  no sign-in goes back to S without a ticket (§2.1.1); any other refusal is an error page here.
- ``GET /cas/p3/serviceValidate?service=S&ticket=ST-…[&format=JSON]`` (and ``/cas/serviceValidate``,
  CAS 2.0): the XML (or JSON) answer with ``user`` (the subject this client sees, pairwise if it
  opted in) and attributes (acr, amr, authenticationDate, the profile/phone claims its scopes
  allow, the ``org`` claim flattened as ``org_uscc``/``org_name``/``org_roles``/``org_acr``). The
  ticket is used up whatever the answer, as §2.5.1 asks of a service mismatch.
- The ticket → token exchange is the token endpoint itself: ``POST /token`` with
  ``grant_type=authorization_code``, ``code=ST-…``, ``redirect_uri=S`` and the client's credentials;
  then ``/userinfo``. A ticket is good once, at either place.
- ``GET /cas/logout[?service=S]`` ends the sign-in as /logout does — after the person confirms, as
  a link without an ID token hint (idp/oauth/logout.py) — back-channel logout included, then goes to S
  if it is a post-logout redirect URI of a CAS client.

Not supported: proxy tickets (``pgtUrl`` is ignored and no PGT is issued), CAS 1.0 ``/validate``
and SAML 1.1; ``renew=true`` at validation is not checked against the ticket.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlencode, urlsplit
from xml.sax.saxutils import escape

from flask import current_app, redirect, request
from sqlalchemy import select, update

from idp.errors import IdpError
from idp.i18n import t
from idp.models import codes_table
from idp.oauth.server import user_claims
from idp.oauth.tokens import token_hash
from idp.services import services
from idp.web import error_page
from keys.storage import utcnow

RESPONSE_MODE = "yitong_cas"  # internal: only /cas/login asks for it, only for a client registered --cas
TICKET_PREFIX = "ST-"
SCOPES = ("openid", "profile", "phone", "org", "verified_claims", "offline_access")
NS = "http://www.yale.edu/tp/cas"


def service_client(service: str | None):
    """The CAS client whose redirect URI ``service`` is (exact match), else None."""
    if not service:
        return None
    return next((c for c in services().clients.list() if c.cas and service in c.redirect_uris), None)


def answer(response):
    """The authorization response of /authorize in CAS terms (idp/oauth/routes.py calls this for RESPONSE_MODE)."""
    location = response.headers.get("Location")
    service = request.args.get("redirect_uri", "")
    client = services().clients.get(request.args.get("client_id", ""))
    if not location or not service or client is None or not client.cas:
        return response  # not a CAS service: the plain query response (idp/oauth/routes.py refused the mode)
    params = parse_qs(urlsplit(location).query)
    if "code" in params:
        ticket = TICKET_PREFIX + params["code"][0]
        return redirect(service + ("&" if "?" in service else "?") + urlencode({"ticket": ticket}))
    if request.args.get("prompt") == "none":  # gateway: no ticket, no error parameters
        return redirect(service)
    error = params.get("error", ["server_error"])[0]
    return error_page(t("无法登录该业务系统", "Cannot sign in to this service"),
                      params.get("error_description", [error])[0], 400)


# -- validation -----------------------------------------------------------------------------------------------
class CasFailure(IdpError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def redeem(ticket: str, service: str):
    """(client, code row) of an unused, unexpired ticket for ``service``, used up now."""
    if not ticket or not service:
        raise CasFailure("INVALID_REQUEST", "'service' and 'ticket' are both required")
    if not ticket.startswith(TICKET_PREFIX) or len(ticket) > 256:
        raise CasFailure("INVALID_TICKET_SPEC", "not a service ticket (ST-...)")
    code_hash = token_hash(ticket[len(TICKET_PREFIX):])
    engine = services().tokens.engine
    with engine.begin() as conn:
        row = conn.execute(select(codes_table).where(codes_table.c.code_hash == code_hash)).first()
        taken = row is not None and conn.execute(update(codes_table).where(
            codes_table.c.code_hash == code_hash, codes_table.c.used_at.is_(None))
            .values(used_at=utcnow())).rowcount == 1
    if row is None or not taken or row.expires_at <= utcnow():
        if row is not None and row.grant_id:  # a second use of a ticket already exchanged for tokens
            services().tokens.revoke_grant(row.grant_id)
        raise CasFailure("INVALID_TICKET", f"ticket {ticket[:24]}… not recognized, already used or expired")
    client = services().clients.get(row.client_id)
    if client is None or not client.cas or row.redirect_uri != service:
        raise CasFailure("INVALID_SERVICE", "the ticket was not issued for this service (it is now invalid)")
    return client, row


def attributes_for(client, row) -> tuple[str, dict]:
    """(user, attributes) as this client may see them."""
    idp = services()
    user = idp.accounts.get(row.sub)
    if user is None:
        raise CasFailure("INVALID_TICKET", "the account no longer exists")
    claims = dict(user_claims(user, row.scope, client=client))
    subject = idp.tokens.subject_for(client, user.sub)
    claims.pop("sub", None)
    attributes = {"authenticationDate": datetime.fromtimestamp(row.auth_time, UTC).isoformat(),
                  "acr": row.acr, "amr": row.amr or idp.accounts.session_amr(row.sid) or [], **claims}
    if "org" in row.scope.split():
        agents = idp.agents
        binding = agents.binding_of_code(row.code_hash)
        org = agents.live_claim(binding) if binding is not None else None
        if binding is not None and org is None:
            raise CasFailure("INVALID_TICKET", "the authorisation to act for the organisation has ended")
        if org:
            attributes.update(org_uscc=org["uscc"], org_name=org["name"], org_roles=org["roles"], org_acr=org["acr"])
    return subject, attributes


def _xml_value(value) -> str:
    return escape(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))


def respond(body: dict | None, failure: CasFailure | None, as_json: bool):
    if as_json:
        inner = {"authenticationSuccess": body} if failure is None else \
            {"authenticationFailure": {"code": failure.code, "description": str(failure)}}
        response = current_app.response_class(json.dumps({"serviceResponse": inner}, ensure_ascii=False),
                                              mimetype="application/json")
    else:
        if failure is None:
            lines = [f"<cas:user>{escape(body['user'])}</cas:user>", "<cas:attributes>"]
            for name, value in body["attributes"].items():
                for item in value if isinstance(value, list) else [value]:
                    lines.append(f"<cas:{name}>{_xml_value(item)}</cas:{name}>")
            lines.append("</cas:attributes>")
            inner = "<cas:authenticationSuccess>" + "".join(lines) + "</cas:authenticationSuccess>"
        else:
            inner = (f'<cas:authenticationFailure code="{failure.code}">{escape(str(failure))}'
                     "</cas:authenticationFailure>")
        response = current_app.response_class(
            f'<cas:serviceResponse xmlns:cas="{NS}">{inner}</cas:serviceResponse>', mimetype="application/xml")
    response.headers["Cache-Control"] = "no-store"
    return response


