"""The IdP's protocol endpoints: discovery, JWKS, authorize, PAR, token, userinfo, introspect,
revoke (logout: idp/rp_logout.py); and register() that mounts the IdP."""

from __future__ import annotations

import hmac
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

from authlib.oauth2 import OAuth2Error
from flask import Flask, Request, current_app, g, jsonify, redirect, render_template, request, session

from idp import (
    acr,
    admin_api,
    agents_web,  # registers /account/agents and /authorize/organisation on bp; org_step below
    assurance,
    cas,  # registers /cas/* on bp; its response mode below
    certlogin_web,  # noqa: F401  (registers /login/certificate on bp)
    console,  # noqa: F401  (registers the account console /account on bp)
    licencelogin_web,  # noqa: F401  (registers /login/licence on bp)
    pages,  # registers the sign-in, consent and MFA pages on bp; begin_step_up below
    privacy_pages,  # noqa: F401  (registers /account/data, its export and account deletion on bp)
    realname,  # registers /account/realname and /account/organisations on bp; ATTEMPTS and WINDOW below
    registration,
    registration_pages,  # registers /register (sign-up), /password/reset and /account/phone on bp
    rp_logout,  # registers /logout on bp; id_token_hint_claims and notify_backchannel below
)
from idp.accounts import Accounts
from idp.agents import Agents
from idp.audit import Audit
from idp.certlogin import CertificateLogin, CertLoginConfig
from idp.certlogin_web import certificate_login_url
from idp.clients import ClientRegistry
from idp.connectors import ConnectorConfig, build_connectors
from idp.consent import SCOPE_LABELS, Consents
from idp.error_description import description, malformed_parameter
from idp.federation import Upstreams
from idp.federation import web as federation_web  # noqa: F401  (registers /login/federation/* on bp)
from idp.i18n import t
from idp.identity import Identities, Organisations
from idp.lifecycle import Lifecycle
from idp.pairwise import SECRET_NAME as PAIRWISE_SECRET
from idp.par import PushedRequests
from idp.resource_indicators import InvalidTargetError, check_resource, known_resources
from idp.security import LoginThrottle
from idp.server import SCOPES, IdpServer, create_server, user_claims
from idp.sessions import Session, open_sessions
from idp.sms import SECRET_NAME as SMS_SECRET
from idp.sms import OneTimeCodes, open_gateway
from idp.tokens import SigningKeys, Tokens
from idp.web import (
    audit,
    bp,
    csrf_token,
    current_session,
    error_page,
    flow_id,
    oauth_server,
    services,
    to_sign_in,
)
from keys.dpop import DpopError, verify_proof


# -- discovery and keys ----------------------------------------------------------------------------
@bp.get("/.well-known/openid-configuration")
def discovery():
    issuer = services()["issuer"]
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
        **({"registration_endpoint": f"{issuer}/register"} if services()["dcr_initial_token"] else {}),
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
        **assurance.discovery_metadata(services()["federation"].trust_frameworks()),
        "authorization_response_iss_parameter_supported": True,
        "prompt_values_supported": ["none", "login"],
        "ui_locales_supported": ["zh-CN", "en"],
    }
    response = jsonify(document)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


def _jwks_response(sm2: bool):
    keys = [k for k in services()["keys"].jwks()["keys"] if (k.get("crv") == "SM2") == sm2]
    response = jsonify({"keys": keys})
    # Short enough that a rotated key (published pending for --activate-after) is seen in time.
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


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
    if mode == cas.RESPONSE_MODE:  # a CAS service ticket (idp/cas.py)
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
    page.headers["Content-Security-Policy"] = "default-src 'none'; script-src 'unsafe-inline'; form-action *"
    return page


def _authorize_error(error):
    """An error redirect from the authorization endpoint, with ``iss`` (RFC 9207 §2 covers errors too).

    Authlib adds ``iss`` only on its create_authorization_response path; errors we raise
    ourselves go through handle_error_response, so the parameter is added here.
    """
    from authlib.common.urls import add_params_to_uri

    response = oauth_server().handle_error_response(request, error)
    location = response.headers.get("Location")
    if location and "iss=" not in urlsplit(location).query:
        response.headers["Location"] = add_params_to_uri(location, [("iss", services()["issuer"])])
    mode = request.args.get("response_mode")
    return _in_response_mode(response, mode if mode in (*RESPONSE_MODES, cas.RESPONSE_MODE) else None)


class _Stop(Exception):
    """A step of the authorization pipeline answered the request itself."""

    def __init__(self, response) -> None:
        self.response = response


def _pushed_request():
    """RFC 9126 §4: with ``request_uri``, the pushed parameters replace the query (never merged)."""
    request_uri = request.args.get("request_uri")
    if not request_uri:
        return request, None
    params = services()["par"].resolve(request_uri, request.args.get("client_id", ""))
    if params is None:
        raise _Stop(error_page(t("无法登录", "Cannot sign in"),
                                "invalid_request_uri: the pushed request is unknown, expired or already used"))
    environ = dict(request.environ, QUERY_STRING=urlencode({**params, "client_id": request.args["client_id"]}))
    return Request(environ), request_uri


def _well_formed_step(args) -> None:
    """Values an error would quote must be quotable (idp/error_description.py): otherwise
    invalid_request, redirected only when the client and its redirect URI are known good (RFC 6749
    §4.1.2.1), else shown on the error page; the value itself is never echoed."""
    malformed = malformed_parameter(args)
    if malformed is None:
        return
    from authlib.oauth2.rfc6749 import InvalidRequestError

    client = services()["clients"].get(args.get("client_id", ""))
    redirect_uri = None
    if client is not None and malformed != "redirect_uri":
        asked = args.get("redirect_uri")
        if not asked:
            redirect_uri = client.get_default_redirect_uri()
        elif client.check_redirect_uri(asked):
            redirect_uri = asked
    if redirect_uri:
        raise _Stop(_authorize_error(InvalidRequestError(description(malformed), redirect_uri=redirect_uri,
                                                         state=args.get("state"))))
    raise _Stop(error_page(t("无法登录", "Cannot sign in"), f"invalid_request: {description(malformed)}"))


def _validated_grant(server: IdpServer, oauth_request, user):
    try:
        return server.get_consent_grant(request=oauth_request, end_user=user)
    except OAuth2Error as error:
        if getattr(error, "redirect_uri", None):
            raise _Stop(_authorize_error(error)) from None
        raise _Stop(error_page(t("无法登录", "Cannot sign in"), f"{error.error}: {error.description or ''}")) from None


def _hinted_user_step(args, user, grant):
    """id_token_hint at /authorize: the session must be that person's, else sign in again
    (prompt=none: login_required). A hint that is not our ID token is invalid_request."""
    hint = args.get("id_token_hint")
    if not hint or user is None:
        return user
    claims = rp_logout.id_token_hint_claims(hint)
    if claims is None:
        from authlib.oauth2.rfc6749 import InvalidRequestError

        raise _Stop(_authorize_error(InvalidRequestError("id_token_hint is not an ID token of this provider",
                                                         redirect_uri=grant.redirect_uri, state=args.get("state"))))
    return user if claims["sub"] == services()["tokens"].subject_for(grant.client, user.sub) else None


def _signed_in_user(args, sso):
    """The signed-in person, or None when (re-)authentication is needed (prompt=login, max_age)."""
    prompt, max_age = args.get("prompt", "").split(), args.get("max_age")
    fresh = session.get("fresh_login") == flow_id()
    stale = sso is not None and max_age is not None and max_age.isdigit() and \
        time.time() - sso.auth_time > int(max_age)
    if sso is None or (("login" in prompt or stale) and not fresh):
        return None
    return services()["accounts"].get(sso.sub)


def _consent_step(grant, args, user):
    """None when consent is on record (or just given); otherwise the response to send."""
    scope = grant.request.payload.scope or ""
    decided = session.get("consent_decision", {}).get(flow_id())
    if decided == "deny":
        session.pop("consent_decision", None)
        return oauth_server().create_authorization_response(request=grant.request, grant=grant, grant_user=None)
    prompt = args.get("prompt", "").split()
    if decided == "allow" or ("consent" not in prompt and
                              services()["consents"].covers(user.sub, grant.client.client_id, scope)):
        return None
    if "none" in prompt:
        from authlib.oidc.core.errors import ConsentRequiredError

        return _authorize_error(ConsentRequiredError(redirect_uri=grant.redirect_uri, redirect_fragment=False))
    labels = [SCOPE_LABELS.get(s, (s, s)) for s in scope.split()]
    return render_template("idp/consent.html", client_name=grant.client.name, scopes=labels, csrf=csrf_token(),
                           return_to=request.full_path)


def _step_up(args, user, sso, grant):
    """Step-up (OIDC Core §3.1.2.1 acr_values, RFC 9470): the session is below the lowest level the
    request asks for, and the account can reach it here — loa:4 with a certificate sign-in, loa:3
    (or a level the account reached after this session began) with a TOTP code at /login/mfa, loa:1/2
    by signing in again; each comes back to this same request. None when the account cannot reach
    it, or when a sign-in made for this very request did not (no loop): the caller then answers
    unmet_authentication_requirements, never a lower acr."""
    method = acr.step_up_method(args, user.acr, user.has_totp)
    if method == "certificate":  # loa:4 is a certificate sign-in, so ask for one
        return redirect(certificate_login_url(request.full_path))
    if method is None or session.get("fresh_login") == flow_id():
        return None
    audit("authorize.step_up", sub=user.sub, client_id=grant.client.client_id, method=method,
          requested_acr=" ".join(acr.requested_levels(args)), session_acr=sso.acr)
    if method == "otp":
        pages.begin_step_up(user, sso, request.full_path)
        return redirect("/login/mfa")
    return to_sign_in(request.full_path)


@bp.get("/authorize")
def authorize():
    """A pipeline of small steps, each of which may answer: pushed request, client and redirect
    checks (Authlib), sign-in, resource, consent, then the code."""
    server = oauth_server()
    sso = current_session()
    try:
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
            check_resource(args.getlist("resource"), services()["resources"], redirect_uri=grant.redirect_uri,
                           state=args.get("state"))
        except InvalidTargetError as error:
            return _authorize_error(error)
        answered = _consent_step(grant, args, user)
        if answered is not None:
            return answered
        org = agents_web.org_step(grant, args, sso)  # scope org: whom the person acts for
        if org.error is not None:
            return _authorize_error(org.error)
        if org.page is not None:
            return org.page
    except _Stop as stop:
        return stop.response
    session.pop("fresh_login", None)
    session.pop("consent_decision", None)
    session.pop("org_choice", None)
    g.yitong_session = sso
    g.yitong_acting = org.acting
    if request_uri:
        services()["par"].mark_used(request_uri)
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
    request_uri, expires_in = services()["par"].push(client.client_id, params)
    response = jsonify(request_uri=request_uri, expires_in=expires_in)
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response


def _par_problem(client, params: dict) -> tuple[str, str] | None:
    """The checks of the authorization endpoint that need no user (RFC 9126 §2.1)."""
    if params.get("client_id", client.client_id) != client.client_id:
        return "invalid_request", "client_id does not match the authenticated client"
    if params.get("response_type") != "code" or not client.check_response_type("code"):
        return "unsupported_response_type", "only response_type=code"
    redirect_uri = params.get("redirect_uri")
    if not redirect_uri or not client.check_redirect_uri(redirect_uri):
        return "invalid_request", "redirect_uri is missing or not registered for this client"
    if client.is_public and not params.get("code_challenge"):
        return "invalid_request", "public clients must use PKCE (code_challenge with S256)"
    if params.get("code_challenge") and params.get("code_challenge_method") != "S256":
        return "invalid_request", "code_challenge_method must be S256"
    try:
        check_resource([params["resource"]] if "resource" in params else [], services()["resources"])
    except InvalidTargetError as error:
        return "invalid_target", error.description
    return None


# -- token, userinfo, introspection, revocation -----------------------------------------------------------
@bp.post("/token")
def token():
    malformed = malformed_parameter(request.form)
    if malformed:
        from authlib.oauth2.rfc6749 import InvalidRequestError

        return oauth_server().handle_error_response(request, InvalidRequestError(description(malformed)))
    try:  # RFC 8707: a resource at the token endpoint must be one we know
        check_resource(request.form.getlist("resource"), services()["resources"])
    except InvalidTargetError as error:
        return oauth_server().handle_error_response(request, error)
    proofs = request.headers.getlist("DPoP")
    if proofs:
        try:  # RFC 9449 §5: the proof binds the tokens issued here to the client's key
            if len(proofs) > 1:
                raise DpopError("one DPoP proof per request")
            g.dpop_jkt = verify_proof(proofs[0], method="POST", url=f"{services()['issuer']}/token",
                                      replay_cache=services()["dpop_replay"]).jkt
        except DpopError as error:
            audit("token.refused", grant_type=request.form.get("grant_type"), error="invalid_dpop_proof")
            return jsonify(error="invalid_dpop_proof", error_description=str(error)), 400
    response = oauth_server().create_token_response()
    client_id = request.form.get("client_id") or (request.authorization.username if request.authorization else None)
    grant_type = request.form.get("grant_type")
    if response.status_code == 200:
        audit("token.issued", client_id=client_id, grant_type=grant_type)
    else:
        audit("token.refused", client_id=client_id, grant_type=grant_type,
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
    claims = services()["tokens"].check_access_token(value) if scheme in ("bearer", "dpop") else None
    if claims and not _sender_constrained_ok(claims, scheme, value):
        claims = None
    if not claims or "openid" not in claims.get("scope", "").split():
        response = jsonify(error="invalid_token", error_description="a valid access token with openid scope")
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response
    user = services()["accounts"].get(claims["sub"])
    if user is None:
        return jsonify(error="invalid_token"), 401
    client = services()["clients"].get(claims.get("client_id", ""))  # its release policy (idp/assurance.py)
    wanted = assurance.request_for_access_token(services()["tokens"].engine, claims.get("jti"), "userinfo")
    info = dict(user_claims(user, claims["scope"], client=client, claims_request=wanted))
    if claims.get("org") and "org" in claims["scope"].split():
        agents: Agents = services()["agents"]
        org = agents.live_claim(agents.binding_of_access_token(claims.get("jti")))
        if org is None:  # the agent was revoked or expired: this token no longer acts for anyone
            response = jsonify(error="invalid_token", error_description="the authorisation to act for the "
                                                                        "organisation has ended")
            response.status_code = 401
            response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
            return response
        info["org"] = org
    info["sub"] = services()["tokens"].subject_for(services()["clients"].get(claims.get("client_id", "")), user.sub)
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
                             url=f"{services()['issuer']}/userinfo", replay_cache=services()["dpop_replay"],
                             access_token=token)
    except DpopError:
        return False
    return hmac.compare_digest(proof.jkt, bound)


def _register_self_service(app: Flask, engine, keystore, runtime) -> None:
    """Issue 5: SMS codes and their limits, sign-up, reset, phone change, export and deletion."""
    idp = app.extensions["yitong.idp"]
    settings = app.config.get("YITONG_SETTINGS")
    gateway = settings.sms_gateway if settings else "outbox"
    limits = registration_pages
    idp.update(
        sms=open_gateway(gateway, settings.sms_outbox if settings else Path("var/sms-outbox.jsonl")),
        sms_gateway_name=gateway, sms_codes=OneTimeCodes(engine, keystore.secret(SMS_SECRET, 32)),
        sms_per_ip=runtime.rate_limiter("sms:ip", limits.SMS_PER_IP, limits.SMS_PER_IP_WINDOW),
        sms_per_phone=runtime.rate_limiter("sms:phone", limits.SMS_PER_PHONE, limits.SMS_PER_PHONE_WINDOW),
        sms_interval=runtime.rate_limiter("sms:interval", 1, limits.SMS_INTERVAL),
        reauth_limiter=runtime.rate_limiter("reauth", limits.REAUTH_ATTEMPTS, limits.REAUTH_WINDOW),
        notify_backchannel=rp_logout.notify_backchannel,  # the account console ends sessions as /logout does
        lifecycle=Lifecycle(engine, idp["accounts"], idp["tokens"], idp["identities"], idp["organisations"],
                            idp["audit"], on_session_ended=lambda sub, sid, clients: rp_logout.notify_backchannel(
                                Session(sid, sub, "", [], 0), clients)))


def register(app: Flask, *, engine, keystore, issuer: str, runtime, seal_audience: str | None = None,
             dcr_initial_token: str | None = None, connectors: ConnectorConfig | None = None,
             cert_login: CertLoginConfig | None = None) -> None:
    """Mount the IdP at the origin root (issuer = base URL in the embedded mode)."""
    keys = SigningKeys(keystore)
    accounts = Accounts(engine, keystore.custody.master, open_sessions(engine, runtime))
    clients = ClientRegistry(engine, keystore.secret("client-secret-pepper"))
    tokens = Tokens(engine, keys, issuer, keystore.secret(PAIRWISE_SECRET, 32))
    identities = Identities(engine, keystore)
    organisations = Organisations(engine)
    agents = Agents(engine, organisations, identities, tokens)  # issue 5: agents, acting (scope org)
    secure = issuer.startswith("https://")
    app.secret_key = keystore.secret("flask-session")
    app.config.update(SESSION_COOKIE_NAME="yitong_flow", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=secure)
    app.extensions["yitong.idp"] = {"server": create_server(clients, accounts, tokens, issuer,
                                                            runtime.replay_cache("client-assertion"), agents),
                                    "issuer": issuer, "agents": agents,
                                    "keys": keys, "accounts": accounts, "clients": clients, "tokens": tokens,
                                    "secure": secure, "throttle": LoginThrottle(runtime), "audit": Audit(engine),
                                    "captcha_key": keystore.secret("captcha"),
                                    "captcha_replay": runtime.replay_cache("captcha"),
                                    "totp_replay": runtime.replay_cache("totp"), "consents": Consents(engine),
                                    "dpop_replay": runtime.replay_cache("dpop"),
                                    "resources": known_resources(issuer, seal_audience),
                                    "par": PushedRequests(engine),
                                    "jobs": runtime.jobs, "dcr_initial_token": dcr_initial_token,
                                    # real name (issue 5): identity sources, verified identities, attempt limit
                                    "connectors": build_connectors(connectors, runtime),
                                    "identities": identities,
                                    "organisations": organisations,
                                    "realname_limiter": runtime.rate_limiter("realname", realname.ATTEMPTS,
                                                                             realname.WINDOW),
                                    "organisation_limiter": runtime.rate_limiter("organisation-register",
                                                                                 realname.ATTEMPTS, realname.WINDOW),
                                    "strong_realname_limiter": runtime.rate_limiter(
                                        "strong-realname", realname.strong.ATTEMPTS, realname.strong.WINDOW)}
    identities = app.extensions["yitong.idp"]["identities"]
    app.extensions["yitong.idp"]["federation"] = Upstreams(engine, keystore)  # national platform (idp/federation)
    cert_login = cert_login or CertLoginConfig(trust=lambda: ([], []), crls=list)
    app.extensions["yitong.idp"].update(
        certlogin=CertificateLogin(trust=cert_login.trust, crls=cert_login.crls,
                                   allow_fetching=cert_login.allow_fetching, identities=identities,
                                   organisations=organisations),
        certlogin_replay=runtime.replay_cache("certlogin"),
        certlogin_limiter=runtime.rate_limiter("certlogin", 20, 60),
        licence_limiter=runtime.rate_limiter("licencelogin", 30, 60),
        certlogin_proxies=cert_login.proxies, certlogin_header=cert_login.header)
    _register_self_service(app, engine, keystore, runtime)
    app.register_blueprint(bp)
    app.register_blueprint(admin_api.bp)
    app.register_blueprint(registration.bp)
