"""The IdP's protocol endpoints, one module: discovery, JWKS, authorize (and its consent form), PAR,
token, userinfo, introspect, revoke, RP-initiated logout, CAS, dynamic client registration (RFC
7591/7592) and the admin REST API over clients. The rules behind them live beside this module
(server.py: Authlib's grants; tokens.py, par.py, logout.py, cas.py, registration.py, ...)."""

from __future__ import annotations

import hmac
import io
import secrets
import time
from typing import NoReturn
from urllib.parse import parse_qs, urlencode, urlsplit

from authlib.oauth2 import OAuth2Error
from flask import (
    Blueprint,
    Request,
    abort,
    current_app,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
)

from idp import acr, assurance
from idp.agents.routes import org_step
from idp.agents.store import Agents
from idp.certlogin.routes import certificate_login_url
from idp.i18n import t
from idp.oauth import cas
from idp.oauth.cas import SCOPES as CAS_SCOPES
from idp.oauth.cas import CasFailure, attributes_for, redeem, respond, service_client
from idp.oauth.clients import ClientError, hash_secret
from idp.oauth.consent import family_of, scope_label
from idp.oauth.error_description import description, malformed_parameter
from idp.oauth.logout import (
    after_logout,
    audience,
    confirmation_page,
    end_session,
    id_token_hint_claims,
    names_the_person,
)
from idp.oauth.registration import (
    TOKEN_KEY,
    NotSelfService,
    bearer_token,
    information,
    managed_client,
    metadata_from_rfc7591,
    oauth_error,
    problem,
    self_service_metadata,
)
from idp.oauth.resource_indicators import InvalidTargetError, check_resource
from idp.oauth.server import SCOPES, IdpServer, user_claims
from idp.services import oauth_server, services
from idp.signin.routes import begin_step_up
from idp.web import (
    audit,
    client_view,
    csrf_failure,
    csrf_ok,
    csrf_token,
    current_session,
    error_page,
    flow_id,
    has_second_factor,
    masked_account,
    oauth_error_page,
    page_blueprint,
    safe_return_to,
    sign_in_ended_page,
    to_sign_in,
)
from keys.dpop import DpopError, verify_proof

bp = page_blueprint("idp_oauth")
registration_bp = Blueprint("idp_registration", __name__)
admin_bp = Blueprint("idp_admin", __name__, url_prefix="/admin/api/v1")


# -- discovery and keys ----------------------------------------------------------------------------
@bp.get("/.well-known/openid-configuration")
def discovery():
    issuer = services().issuer
    document = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/jwks.json",
        "yitong_sm2_jwks_uri": f"{issuer}/jwks-sm2.json",  # SM2 keys apart: see jwks() below
        "introspection_endpoint": f"{issuer}/introspect",
        "revocation_endpoint": f"{issuer}/revoke",
        "end_session_endpoint": f"{issuer}/logout",
        **({"registration_endpoint": f"{issuer}/register"} if services().dcr_initial_token else {}),
        "pushed_authorization_request_endpoint": f"{issuer}/par",
        "require_pushed_authorization_requests": False,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "scopes_supported": SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": list(RESPONSE_MODES),
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": ["ES256", "SM2"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt",
                                                  "none"],
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "RS256"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "dpop_signing_alg_values_supported": ["ES256", "RS256", "SM2"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "sid",
                             "preferred_username", "name", "phone_number", "phone_number_verified", "org", "amr",
                             "verified_claims"],
        "acr_values_supported": list(acr.LEVELS),
        "claims_parameter_supported": True,  # acr (idp/acr.py) and verified_claims (idp/assurance.py)
        **assurance.discovery_metadata(services().federation.trust_frameworks()),
        "authorization_response_iss_parameter_supported": True,
        "prompt_values_supported": ["none", "login"],
        "ui_locales_supported": ["zh-CN", "en"],
    }
    response = jsonify(document)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


def _jwks_response(sm2: bool):
    keys = [k for k in services().keys.jwks()["keys"] if (k.get("crv") == "SM2") == sm2]
    response = jsonify({"keys": keys})
    # Short enough that a rotated key (published pending for --activate-after) is seen in time.
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/clients/<client_id>/logo")
def client_logo(client_id: str):
    """A client's logo as its operator set it (issue 18 item 3): from our origin, never the client's."""
    found = services().clients.logo(client_id)
    if found is None:
        abort(404)
    data, content_type = found
    return data, 200, {"Content-Type": content_type, "Cache-Control": "public, max-age=3600",
                       "Content-Security-Policy": "default-src 'none'", "X-Content-Type-Options": "nosniff"}


@bp.get("/jwks.json")
def jwks():
    """The standard keys (ES256). SM2 keys live apart: RFC 7517 §5 says a JWK set reader SHOULD
    skip keys it does not understand, but joserfc (under Authlib) fails the whole set on an
    unknown crv, and a portal integrating with Authlib must not break on our JWKS."""
    return _jwks_response(sm2=False)


@bp.get("/jwks-sm2.json")
def jwks_sm2():
    """SM2 verification keys, for clients registered with id_token_signed_response_alg SM2."""
    return _jwks_response(sm2=True)


# -- authorization and login -------------------------------------------------------------------------


RESPONSE_MODES = ("query", "fragment", "form_post")


def _in_response_mode(response, mode: str | None):
    """OAuth 2.0 Multiple Response Type Encoding Practices §2 (fragment) and Form Post Response
    Mode 1.0: re-express the authorization response Authlib built as a query redirect."""
    if mode == cas.RESPONSE_MODE:  # a CAS service ticket (idp/oauth/cas.py)
        return cas.answer(response)
    location = response.headers.get("Location")
    if not location or mode in (None, "", "query"):
        return response
    target, _, query = location.partition("?")
    if mode == "fragment":
        response.headers["Location"] = f"{target}#{query}"
        return response
    fields = parse_qs(query)
    page = current_app.make_response(render_template("idp/form_post.html", action=target,
                                                     fields={k: v[0] for k, v in fields.items()}))
    page.headers["Cache-Control"] = "no-store"
    return page  # its script carries the nonce of the app's one CSP (yitong/headers.py)


def _authorize_error(error):
    """An error redirect from the authorization endpoint, with ``iss`` (RFC 9207 §2 covers errors too).

    Authlib adds ``iss`` only on its create_authorization_response path; errors we raise
    ourselves go through handle_error_response, so the parameter is added here.
    """
    from authlib.common.urls import add_params_to_uri

    response = oauth_server().handle_error_response(request, error)
    location = response.headers.get("Location")
    if location and "iss=" not in urlsplit(location).query:
        response.headers["Location"] = add_params_to_uri(location, [("iss", services().issuer)])
    mode = request.args.get("response_mode")
    return _in_response_mode(response, mode if mode in (*RESPONSE_MODES, cas.RESPONSE_MODE) else None)


def _stop(response) -> NoReturn:
    """A step of the authorization pipeline answers the request itself (Flask's abort with a response)."""
    abort(make_response(response))


def _pushed_request():
    """RFC 9126 §4: with ``request_uri``, the pushed parameters replace the query (never merged)."""
    request_uri = request.args.get("request_uri")
    if not request_uri:
        return request, None
    params = services().par.resolve(request_uri, request.args.get("client_id", ""))
    if params is None:
        _stop(oauth_error_page("invalid_request_uri", "the pushed request is unknown, expired or already used",
                               services().clients.get(request.args.get("client_id", ""))))
    environ = dict(request.environ, QUERY_STRING=urlencode({**params, "client_id": request.args["client_id"]}))
    return Request(environ), request_uri


def _well_formed_step(args) -> None:
    """Values an error would quote must be quotable (idp/oauth/error_description.py): otherwise
    invalid_request, redirected only when the client and its redirect URI are known good (RFC 6749
    §4.1.2.1), else shown on the error page; the value itself is never echoed."""
    malformed = malformed_parameter(args)
    if malformed is None:
        return
    from authlib.oauth2.rfc6749 import InvalidRequestError

    client = services().clients.get(args.get("client_id", ""))
    redirect_uri = None
    if client is not None and malformed != "redirect_uri":
        asked = args.get("redirect_uri")
        if not asked:
            redirect_uri = client.get_default_redirect_uri()
        elif client.check_redirect_uri(asked):
            redirect_uri = asked
    if redirect_uri:
        _stop(_authorize_error(InvalidRequestError(description(malformed), redirect_uri=redirect_uri,
                                                   state=args.get("state"))))
    _stop(oauth_error_page("invalid_request", description(malformed), client))


def _validated_grant(server: IdpServer, oauth_request, user):
    try:
        return server.get_consent_grant(request=oauth_request, end_user=user)
    except OAuth2Error as error:
        if getattr(error, "redirect_uri", None):
            _stop(_authorize_error(error))
        client = services().clients.get(oauth_request.args.get("client_id", ""))
        _stop(oauth_error_page(error.error, error.description, client))


def _hinted_user_step(args, user, grant):
    """id_token_hint at /authorize: the session must be that person's, else sign in again
    (prompt=none: login_required). A hint that is not our ID token is invalid_request."""
    hint = args.get("id_token_hint")
    if not hint or user is None:
        return user
    claims = id_token_hint_claims(hint)
    if claims is None:
        from authlib.oauth2.rfc6749 import InvalidRequestError

        _stop(_authorize_error(InvalidRequestError("id_token_hint is not an ID token of this provider",
                                                   redirect_uri=grant.redirect_uri, state=args.get("state"))))
    return user if claims["sub"] == services().tokens.subject_for(grant.client, user.sub) else None


def _signed_in_user(args, sso):
    """The signed-in person, or None when (re-)authentication is needed (prompt=login, max_age)."""
    prompt, max_age = args.get("prompt", "").split(), args.get("max_age")
    fresh = session.get("fresh_login") == flow_id()
    stale = sso is not None and max_age is not None and max_age.isdigit() and \
        time.time() - sso.auth_time > int(max_age)
    if sso is None or (("login" in prompt or stale) and not fresh):
        return None
    return services().accounts.get(sso.sub)


def _consent_step(grant, args, user):
    """None when consent is on record (or just given); otherwise the response to send."""
    scope = grant.request.payload.scope or ""
    decided = session.get("consent_decision", {}).get(flow_id())
    if decided == "deny":
        session.pop("consent_decision", None)
        return oauth_server().create_authorization_response(request=grant.request, grant=grant, grant_user=None)
    prompt = args.get("prompt", "").split()
    if decided == "allow" or ("consent" not in prompt and
                              services().consents.covers(user.sub, grant.client.client_id, scope)):
        return None
    if "none" in prompt:
        from authlib.oidc.core.errors import ConsentRequiredError

        return _authorize_error(ConsentRequiredError(redirect_uri=grant.redirect_uri, redirect_fragment=False))
    labels = [scope_label(s, services().scope_families) for s in scope.split()]
    return render_template("idp/consent.html", client_name=grant.client.name, scopes=labels, csrf=csrf_token(),
                           return_to=request.full_path, asking=client_view(grant.client), account=masked_account(user))


def described_scope_problem(client, scope: str) -> str | None:
    """Why ``scope`` cannot be granted to ``client``, or None. A scope of a family the composition root
    describes (``licence:read:<type>``) that names no member (an unknown licence type), or that the
    client is not registered for, is invalid_scope: the person is never asked to consent to something
    that does not exist or would be dropped. /authorize and /par both ask this (issue 13)."""
    registered = set(client.scope.split())
    for each in (scope or "").split():
        family = family_of(each, services().scope_families)
        if family is None:
            continue
        if family.describe(family.member(each)) is None:
            return f"{each} names nothing this service knows (no such licence type)"
        if each not in registered:
            return f"the client is not registered for the scope {each}"
    return None


def _described_scope_step(grant, args):
    """The authorization endpoint's answer when described_scope_problem finds one."""
    from authlib.oauth2.rfc6749.errors import InvalidScopeError

    why = described_scope_problem(grant.client, grant.request.payload.scope or "")
    if why is None:
        return None
    return _authorize_error(InvalidScopeError(description=why, redirect_uri=grant.redirect_uri,
                                              state=args.get("state")))


def _step_up(args, user, sso, grant):
    """Step-up (OIDC Core §3.1.2.1 acr_values, RFC 9470): the session is below the lowest level the
    request asks for, and the account can reach it here — loa:4 with a certificate sign-in, loa:3
    (or a level the account reached after this session began) with a TOTP code at /login/mfa, loa:1/2
    by signing in again; each comes back to this same request. None when the account cannot reach
    it, or when a sign-in made for this very request did not (no loop): the caller then answers
    unmet_authentication_requirements, never a lower acr."""
    method = acr.step_up_method(args, user.acr, has_second_factor(user))
    if method == "certificate":  # loa:4 is a certificate sign-in, so ask for one
        return redirect(certificate_login_url(request.full_path))
    if method is None or session.get("fresh_login") == flow_id():
        return None
    audit("authorize.step_up", sub=user.sub, client_id=grant.client.client_id, method=method,
          requested_acr=" ".join(acr.requested_levels(args)), session_acr=sso.acr)
    if method == "otp":
        begin_step_up(user, sso, request.full_path)
        return redirect("/login/mfa")
    return to_sign_in(request.full_path)


@bp.get("/authorize")
def authorize():
    """A pipeline of small steps, each of which may answer: pushed request, client and redirect
    checks (Authlib), sign-in, resource, consent, then the code."""
    server = oauth_server()
    sso = current_session()
    oauth_request, request_uri = _pushed_request()
    args = oauth_request.args
    _well_formed_step(args)
    user = _signed_in_user(args, sso)
    grant = _validated_grant(server, oauth_request, user)
    user = _hinted_user_step(args, user, grant)
    mode = args.get("response_mode", "query")
    if mode not in RESPONSE_MODES and not (mode == cas.RESPONSE_MODE and grant.client.cas and not request_uri):
        from authlib.oauth2.rfc6749 import InvalidRequestError

        return _authorize_error(InvalidRequestError("response_mode must be query, fragment or form_post",
                                                    redirect_uri=grant.redirect_uri, state=args.get("state")))
    refused = _described_scope_step(grant, args)  # before sign-in: nobody signs in to be refused
    if refused is not None:
        return refused
    if user is None:
        if "none" in args.get("prompt", "").split():
            from authlib.oidc.core.errors import LoginRequiredError

            return _authorize_error(LoginRequiredError(redirect_uri=grant.redirect_uri, redirect_fragment=False))
        return to_sign_in(request.full_path)
    unmet = acr.unmet(args, sso.acr, redirect_uri=grant.redirect_uri, state=args.get("state"))
    if unmet is not None and "none" not in args.get("prompt", "").split():
        stepped = _step_up(args, user, sso, grant)
        if stepped is not None:
            return stepped
    if unmet is not None:
        audit("authorize.refused", sub=user.sub, client_id=grant.client.client_id, error=unmet.error,
              requested_acr=" ".join(acr.requested_levels(args)), session_acr=sso.acr)
        return _authorize_error(unmet)
    try:
        check_resource(args.getlist("resource"), services().resources, redirect_uri=grant.redirect_uri,
                       state=args.get("state"))
    except InvalidTargetError as error:
        return _authorize_error(error)
    answered = _consent_step(grant, args, user)
    if answered is not None:
        return answered
    org = org_step(grant, args, sso)  # scope org: whom the person acts for
    if org.error is not None:
        return _authorize_error(org.error)
    if org.page is not None:
        return org.page
    session.pop("fresh_login", None)
    session.pop("consent_decision", None)
    session.pop("org_choice", None)
    g.yitong_session = sso
    g.yitong_acting = org.acting
    if request_uri:
        services().par.mark_used(request_uri)
    response = server.create_authorization_response(request=grant.request, grant=grant, grant_user=user)
    return _in_response_mode(response, args.get("response_mode"))


_NOT_PUSHED = {"client_secret", "client_assertion", "client_assertion_type", "request_uri"}


@bp.post("/par")
def pushed_authorization_request():
    """RFC 9126 §2: authenticate the client, check the request as /authorize would, keep it."""
    server = oauth_server()
    oauth_request = server.create_oauth2_request(request)
    try:
        client = server.authenticate_client(oauth_request, ["client_secret_basic", "client_secret_post",
                                                            "client_assertion_jwt", "none"], endpoint="par")
    except OAuth2Error as error:
        return server.handle_error_response(request, error)
    if "request_uri" in request.form:  # §2.1: a pushed request cannot point at another one
        return jsonify(error="invalid_request", error_description="request_uri is not allowed here"), 400
    malformed = malformed_parameter(request.form)
    if malformed:
        return jsonify(error="invalid_request", error_description=description(malformed)), 400
    params = {k: v for k, v in request.form.items() if k not in _NOT_PUSHED}
    problem = _par_problem(client, params)
    if problem:
        return jsonify(error=problem[0], error_description=problem[1]), 400
    request_uri, expires_in = services().par.push(client.client_id, params)
    response = jsonify(request_uri=request_uri, expires_in=expires_in)
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response


def _par_problem(client, params: dict) -> tuple[str, str] | None:
    """The checks of the authorization endpoint that need no user (RFC 9126 §2.1), run by the very code
    /authorize runs: Authlib validates the pushed parameters as an authorization request (client,
    redirect_uri, response_type, scope, and PKCE through pkce_step), so both answer alike; then the
    resource rule (check_resource) and the described scopes (described_scope_problem). Only the match
    with the authenticated client is PAR's own."""
    if params.get("client_id", client.client_id) != client.client_id:
        return "invalid_request", "client_id does not match the authenticated client"
    server = oauth_server()
    query = urlencode({**params, "client_id": client.client_id})
    environ = dict(request.environ, REQUEST_METHOD="GET", QUERY_STRING=query, CONTENT_TYPE="", CONTENT_LENGTH="0")
    environ["wsgi.input"] = io.BytesIO(b"")
    try:
        server.get_authorization_grant(server.create_oauth2_request(Request(environ))).validate_authorization_request()
        check_resource([params["resource"]] if "resource" in params else [], services().resources)
    except OAuth2Error as error:
        return error.error, error.description
    why = described_scope_problem(client, params.get("scope", ""))
    return ("invalid_scope", why) if why else None


# -- token, userinfo, introspection, revocation -----------------------------------------------------------
@bp.post("/token")
def token():
    malformed = malformed_parameter(request.form)
    if malformed:
        from authlib.oauth2.rfc6749 import InvalidRequestError

        return oauth_server().handle_error_response(request, InvalidRequestError(description(malformed)))
    try:  # RFC 8707: a resource at the token endpoint must be one we know
        check_resource(request.form.getlist("resource"), services().resources)
    except InvalidTargetError as error:
        return oauth_server().handle_error_response(request, error)
    # RFC 9449 §5: a DPoP proof binds the tokens issued here to the client's key (idp/oauth/server.py DpopBinding)
    client_id = request.form.get("client_id") or (request.authorization.username if request.authorization else None)
    grant_type = request.form.get("grant_type")
    # One commit before the response leaves: the tokens' rows, a refresh token's use and the audit row
    # (idp/oauth/tokens.py Issuing), so a client never holds a token without its audit record.
    with services().tokens.issuing() as issuing:
        response = oauth_server().create_token_response()
        if response.status_code == 200:
            audit("token.issued", client_id=client_id, grant_type=grant_type, write=issuing.write,
                  **({"jti": issuing.jtis[0]} if len(issuing.jtis) == 1 else {"jtis": issuing.jtis}))
        else:
            audit("token.refused", client_id=client_id, grant_type=grant_type, write=issuing.write,
                  error=(response.get_json(silent=True) or {}).get("error"))
    return response


@bp.post("/introspect")
def introspect():
    return oauth_server().create_endpoint_response("introspection")


@bp.post("/revoke")
def revoke():
    response = oauth_server().create_endpoint_response("revocation")
    if response.status_code == 200:
        audit("token.revoked", client_id=request.form.get("client_id") or
               (request.authorization.username if request.authorization else None))
    return response


@bp.route("/userinfo", methods=["GET", "POST"])
def userinfo():
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    scheme, value = scheme.lower(), value.strip()
    claims = services().tokens.check_access_token(value) if scheme in ("bearer", "dpop") else None
    if claims and not _sender_constrained_ok(claims, scheme, value):
        claims = None
    if not claims or "openid" not in claims.get("scope", "").split():
        response = jsonify(error="invalid_token", error_description="a valid access token with openid scope")
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response
    user = services().accounts.get(claims["sub"])
    if user is None:
        return jsonify(error="invalid_token"), 401
    client = services().clients.get(claims.get("client_id", ""))  # its release policy (idp/assurance.py)
    wanted = assurance.request_for_access_token(services().tokens.engine, claims.get("jti"), "userinfo")
    info = dict(user_claims(user, claims["scope"], client=client, claims_request=wanted))
    if claims.get("org") and "org" in claims["scope"].split():
        agents: Agents = services().agents
        org = agents.live_claim(agents.binding_of_access_token(claims.get("jti")))
        if org is None:  # the agent was revoked or expired: this token no longer acts for anyone
            response = jsonify(error="invalid_token", error_description="the authorisation to act for the "
                                                                        "organisation has ended")
            response.status_code = 401
            response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
            return response
        info["org"] = org
    info["sub"] = services().tokens.subject_for(services().clients.get(claims.get("client_id", "")), user.sub)
    return jsonify(info)


def _sender_constrained_ok(claims: dict, scheme: str, token: str) -> bool:
    """RFC 9449 §7: a DPoP-bound token needs the DPoP scheme and a proof from the bound key."""
    bound = (claims.get("cnf") or {}).get("jkt")
    if not bound:
        return scheme == "bearer"
    if scheme != "dpop":
        return False
    try:
        proof = verify_proof(request.headers.get("DPoP", ""), method=request.method,
                             url=f"{services().issuer}/userinfo", replay_cache=services().dpop_replay,
                             access_token=token)
    except DpopError:
        return False
    return hmac.compare_digest(proof.jkt, bound)


# -- consent (the form of the consent step above) ---------------------------------------------------------
@bp.post("/consent")
def consent():
    return_to = safe_return_to(request.form.get("return_to"))
    sso = current_session()
    if sso is None or return_to == "/":
        return sign_in_ended_page(t("无法授权", "Cannot allow access"))
    if not csrf_ok():
        return csrf_failure()
    query = parse_qs(urlsplit(return_to).query)
    client_id, scope = query.get("client_id", [""])[0], query.get("scope", [""])[0]
    client = services().clients.get(client_id)
    allowed = client.get_allowed_scope(scope) if client else ""
    decision = "allow" if request.form.get("decision") == "allow" else "deny"
    if decision == "allow" and client:
        services().consents.grant(sso.sub, client_id, allowed)
        audit("consent.given", sub=sso.sub, client_id=client_id, scope=allowed)
    elif client:
        audit("consent.denied", sub=sso.sub, client_id=client_id, scope=allowed)
    session["consent_decision"] = {return_to: decision}
    return redirect(return_to)


# -- RP-initiated logout (idp/oauth/logout.py) -------------------------------------------------------------
@bp.route("/logout", methods=["GET", "POST"])
def logout():
    client_id = request.values.get("client_id")
    hint = request.values.get("id_token_hint")
    claims = id_token_hint_claims(hint) if hint else None
    if hint and claims is None:
        return error_page(t("无法退出", "Cannot sign out"),
                          t("id_token_hint 不是本平台签发的 ID 令牌", "id_token_hint is not an ID token of ours"))
    if claims is not None:
        client_id = client_id or audience(claims)
    sso = current_session()
    if sso is not None and not names_the_person(claims, sso):
        if request.method == "GET":
            return confirmation_page(client_id)
        if not csrf_ok():
            return csrf_failure()
    if sso is not None:
        end_session(sso, client_id)
    return after_logout(client_id)


# -- CAS (idp/oauth/cas.py) -----------------------------------------------------------------------------------
@bp.get("/cas/login")
def cas_login():
    service = request.args.get("service", "")
    client = service_client(service)
    if client is None:
        return error_page(t("未登记的业务系统", "Unknown service"),
                          t("该 service 地址不属于任何已登记的 CAS 业务系统。",
                            "The service URL is not one of a registered CAS service."), 400)
    gateway = request.args.get("gateway", "").lower() == "true"
    if gateway and current_session() is None:
        return redirect(service)  # CAS 3.0 §2.1.1: no sign-in, back without a ticket
    scope = " ".join(s for s in client.scope.split() if s in CAS_SCOPES)
    query = {"response_type": "code", "client_id": client.client_id, "redirect_uri": service,
             "scope": scope if "openid" in scope.split() else f"openid {scope}".strip(),
             "response_mode": cas.RESPONSE_MODE}
    if request.args.get("renew", "").lower() == "true":
        query["prompt"] = "login"
    elif gateway:
        query["prompt"] = "none"
    return redirect("/authorize?" + urlencode(query))


@bp.get("/cas/serviceValidate")
@bp.get("/cas/p3/serviceValidate")
def cas_service_validate():
    service, ticket = request.args.get("service", ""), request.args.get("ticket", "")
    as_json = request.args.get("format", "XML").upper() == "JSON"
    try:
        client, row = redeem(ticket, service)
        user, attributes = attributes_for(client, row)
    except CasFailure as failure:
        audit("cas.refused", reason=failure.code, service=service[:200])
        return respond(None, failure, as_json)
    audit("cas.validated", sub=row.sub, client_id=client.client_id, sid=row.sid)
    return respond({"user": user, "attributes": attributes}, None, as_json)


@bp.get("/cas/logout")
def cas_logout():
    service = request.args.get("service", "")
    client = next((c for c in services().clients.list() if c.cas and service in c.post_logout_redirect_uris),
                  None) if service else None
    query = {"client_id": client.client_id, "post_logout_redirect_uri": service} if client else {}
    return redirect("/logout" + ("?" + urlencode(query) if query else ""))


# -- dynamic client registration, RFC 7591/7592 (idp/oauth/registration.py) ----------------------------------
@registration_bp.post("/register")
def register_client():
    initial = services().dcr_initial_token
    if not initial:
        return problem(404, "Not Found", "dynamic client registration is not enabled on this server")
    if not hmac.compare_digest(bearer_token().encode(), initial.encode()):
        return oauth_error(401, "invalid_token", "an initial access token is required (RFC 7591 §3)")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return oauth_error(400, "invalid_client_metadata", "the body must be a JSON object")
    try:
        metadata = self_service_metadata(body)
    except ClientError as error:
        redirect_problem = "redirect" in str(error) and not isinstance(error, NotSelfService)
        return oauth_error(400, "invalid_redirect_uri" if redirect_problem else "invalid_client_metadata", str(error))
    registration_token = secrets.token_urlsafe(32)
    registry = services().clients
    metadata[TOKEN_KEY] = hash_secret(registry.pepper, registration_token).hex()
    client, secret = registry.create(body.get("client_name") or "registered client", metadata)
    audit("client.created", client_id=client.client_id, via="rfc7591")
    response = jsonify(information(client, registration_token, secret))
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response


@registration_bp.get("/register/<client_id>")
def read_client(client_id: str):
    client = managed_client(client_id)
    if client is None:
        return oauth_error(401, "invalid_token", "a valid registration access token is required")
    response = jsonify(information(client))
    response.headers["Cache-Control"] = "no-store"
    return response


@registration_bp.put("/register/<client_id>")
def update_client(client_id: str):
    client = managed_client(client_id)
    if client is None:
        return oauth_error(401, "invalid_token", "a valid registration access token is required")
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or body.get("client_id", client_id) != client_id:
        return oauth_error(400, "invalid_client_metadata", "the body must be this client's metadata")
    try:
        metadata = self_service_metadata(body)  # §2.2: the request replaces the metadata
    except ClientError as error:
        return oauth_error(400, "invalid_client_metadata", str(error))
    metadata[TOKEN_KEY] = client.metadata[TOKEN_KEY]
    updated = services().clients.update(client_id, body.get("client_name"), metadata)
    audit("client.updated", client_id=client_id, via="rfc7592")
    return jsonify(information(updated))


@registration_bp.delete("/register/<client_id>")
def delete_client(client_id: str):
    if managed_client(client_id) is None:
        return oauth_error(401, "invalid_token", "a valid registration access token is required")
    services().clients.delete(client_id)
    audit("client.deleted", client_id=client_id, via="rfc7592")
    return "", 204


# -- admin REST API: the `yitong client` operations over HTTP, for an operator's tooling -----------------------
# Protected by OAuth: a bearer access token of ours whose scope includes ``yitong:admin`` (a client-credentials
# client registered with that scope). Bodies use RFC 7591 names; errors are RFC 7807 problem+json. Every change
# is audited with the calling client as the actor.
@admin_bp.before_request
def require_admin_token():
    from idp.admin.access import authorise  # the operator-role rule shared by every admin resource

    return authorise("clients")


def _admin_audit(event: str, client_id: str) -> None:
    services().audit.record(event, sub=g.admin_actor, client_id=client_id, ip=request.remote_addr,
                           user_agent=request.user_agent.string, via="admin-api")


def _admin_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ClientError("the body must be a JSON object of RFC 7591 client metadata")
    return body


@admin_bp.errorhandler(ClientError)
def invalid_metadata(error: ClientError):
    return problem(400, "Invalid client metadata", str(error),
                    kind="urn:ietf:params:oauth:error:invalid_client_metadata")


@admin_bp.get("/clients")
def list_clients():
    return jsonify([c.as_dict() for c in services().clients.list()])


@admin_bp.post("/clients")
def create_client():
    body = _admin_body()
    created, secret = services().clients.create(body.get("client_name") or "unnamed client",
                                                metadata_from_rfc7591(body))
    _admin_audit("client.created", created.client_id)
    response = jsonify(created.as_dict(secret))
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response


@admin_bp.get("/clients/<client_id>")
def show_client(client_id: str):
    client = services().clients.get(client_id)
    return jsonify(client.as_dict()) if client else problem(404, "Not Found", f"no client {client_id}")


@admin_bp.patch("/clients/<client_id>")
def admin_update_client(client_id: str):
    registry = services().clients
    client = registry.get(client_id)
    if client is None:
        return problem(404, "Not Found", f"no client {client_id}")
    body = _admin_body()
    updated = registry.update(client_id, body.get("client_name"), metadata_from_rfc7591(body, client.metadata))
    _admin_audit("client.updated", client_id)
    return jsonify(updated.as_dict())


@admin_bp.post("/clients/<client_id>/secret")
def rotate_secret(client_id: str):
    from idp.admin.access import recent_sign_in  # key rotation is a sensitive action (RFC 9470 step-up)

    if challenge := recent_sign_in():
        return challenge
    if services().clients.get(client_id) is None:
        return problem(404, "Not Found", f"no client {client_id}")
    secret = services().clients.rotate_secret(client_id)
    _admin_audit("client.secret_rotated", client_id)
    response = jsonify({"client_id": client_id, "client_secret": secret})
    response.headers["Cache-Control"] = "no-store"
    return response


@admin_bp.delete("/clients/<client_id>")
def admin_delete_client(client_id: str):
    if services().clients.get(client_id) is None:
        return problem(404, "Not Found", f"no client {client_id}")
    services().clients.delete(client_id)
    _admin_audit("client.deleted", client_id)
    return "", 204
