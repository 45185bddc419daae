"""Mount the IdP on a Flask app: build its services (idp/services.py) and register its blueprints,
all of them, in :func:`blueprints` (yitong/app.py calls :func:`register`)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask

from idp import i18n, words
from idp.accounts import routes as accounts_routes
from idp.accounts.lifecycle import Lifecycle
from idp.accounts.sessions import Session, open_sessions
from idp.accounts.sms import SECRET_NAME as SMS_SECRET
from idp.accounts.sms import OneTimeCodes, open_gateway
from idp.accounts.store import Accounts
from idp.admin import routes as admin_routes
from idp.agents import routes as agents_routes
from idp.agents.store import Agents
from idp.audit import Audit
from idp.certlogin import routes as certlogin_routes
from idp.certlogin.certificates import CertificateLogin, CertLoginConfig
from idp.connectors import ConnectorConfig, build_connectors
from idp.federation import Upstreams
from idp.federation import routes as federation_routes
from idp.identity import Identities, Organisations
from idp.oauth import routes as oauth_routes
from idp.oauth.clients import ClientRegistry
from idp.oauth.consent import Consents
from idp.oauth.logout import notify_backchannel
from idp.oauth.pairwise import SECRET_NAME as PAIRWISE_SECRET
from idp.oauth.par import PushedRequests
from idp.oauth.resource_indicators import known_resources
from idp.oauth.server import create_server
from idp.oauth.tokens import SigningKeys, Tokens
from idp.operators import Operators
from idp.passkeys import routes as passkeys_routes
from idp.passkeys.store import Passkeys
from idp.realname import routes as realname_routes
from idp.realname import strong
from idp.realname.persons import ATTEMPTS as REALNAME_ATTEMPTS
from idp.realname.persons import WINDOW as REALNAME_WINDOW
from idp.security import LoginThrottle
from idp.services import EXTENSION, IdpServices
from idp.signin import routes as signin_routes
from idp.web import remember_display_choices
from keys.auditchain import CHAIN_SECRET, AuditChain


def blueprints() -> list[Blueprint]:
    """Every blueprint of the IdP, in the order they are registered."""
    return [
        oauth_routes.bp,  # discovery, JWKS, /authorize, /par, /token, /userinfo, ..., /logout, /cas/*
        signin_routes.bp,  # /login, /login/mfa, /account/mfa
        accounts_routes.bp,  # /register (sign-up), /password/reset, /account/phone, /account, /account/data
        realname_routes.bp,  # /account/realname, /account/realname/strong, /account/organisations
        agents_routes.bp,  # /account/agents, /authorize/organisation
        certlogin_routes.bp,  # /login/certificate, /login/licence
        federation_routes.bp,  # /login/federation/*
        passkeys_routes.bp,  # /account/passkeys, /login/passkey
        oauth_routes.admin_bp,  # /admin/api/v1/clients
        admin_routes.bp,  # /admin/api/v1/users, /audit, /operators (operator roles: idp/admin/access.py)
        oauth_routes.registration_bp,  # POST /register, /register/<client_id> (RFC 7591/7592)
    ]


def _end_session_notice(sub: str, sid: str, clients) -> None:
    """Lifecycle's account deletion ends sessions as /logout does: back-channel logout included."""
    notify_backchannel(Session(sid, sub, "", [], 0), clients)


def register(app: Flask, *, engine, keystore, issuer: str, runtime, seal_audience: str | None = None,
             dcr_initial_token: str | None = None, connectors: ConnectorConfig | None = None,
             cert_login: CertLoginConfig | None = None, audit_chain: AuditChain | None = None) -> None:
    """Mount the IdP at the origin root (issuer = base URL in the embedded mode); audit events are
    chained through ``audit_chain`` (the composition root's, else one without TSA checkpoints)."""
    keys = SigningKeys(keystore, stamp=runtime.change_stamp("keys"))
    accounts = Accounts(engine, keystore.custody.master, open_sessions(engine, runtime))
    clients = ClientRegistry(engine, keystore.secret("client-secret-pepper"), runtime.change_stamp("clients"))
    tokens = Tokens(engine, keys, issuer, keystore.secret(PAIRWISE_SECRET, 32))
    identities = Identities(engine, keystore)
    organisations = Organisations(engine)
    agents = Agents(engine, organisations, identities, tokens)  # issue 5: agents, acting (scope org)
    audit = Audit(engine, audit_chain or AuditChain(engine, keystore.secret(CHAIN_SECRET)))
    secure = issuer.startswith("https://")
    app.secret_key = keystore.secret("flask-session")
    app.config.update(SESSION_COOKIE_NAME="yitong_flow", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=secure)
    cert_login = cert_login or CertLoginConfig(trust=lambda: ([], []), crls=list)
    # Issue 5: SMS codes and their limits, sign-up, reset, phone change, export and deletion.
    settings = app.config.get("YITONG_SETTINGS")
    gateway = settings.sms_gateway if settings else "outbox"
    limits = accounts_routes
    dpop_replay = runtime.replay_cache("dpop")
    app.extensions[EXTENSION] = IdpServices(
        issuer=issuer, secure=secure,
        server=create_server(clients, accounts, tokens, issuer, runtime.replay_cache("client-assertion"),
                             dpop_replay, agents),
        keys=keys, clients=clients, tokens=tokens, consents=Consents(engine), par=PushedRequests(engine),
        resources=known_resources(issuer, seal_audience), dpop_replay=dpop_replay,
        dcr_initial_token=dcr_initial_token,
        notify_backchannel=notify_backchannel,  # the account console ends sessions as /logout does
        jobs=runtime.jobs,
        accounts=accounts,
        lifecycle=Lifecycle(engine, accounts, tokens, identities, organisations, audit,
                            on_session_ended=_end_session_notice),
        audit=audit, throttle=LoginThrottle(runtime),
        captcha_key=keystore.secret("captcha"), captcha_replay=runtime.replay_cache("captcha"),
        totp_replay=runtime.replay_cache("totp"),
        sms=open_gateway(gateway, settings.sms_outbox if settings else Path("var/sms-outbox.jsonl")),
        sms_gateway_name=gateway, sms_codes=OneTimeCodes(engine, keystore.secret(SMS_SECRET, 32)),
        sms_per_ip=runtime.rate_limiter("sms:ip", limits.SMS_PER_IP, limits.SMS_PER_IP_WINDOW),
        sms_per_phone=runtime.rate_limiter("sms:phone", limits.SMS_PER_PHONE, limits.SMS_PER_PHONE_WINDOW),
        sms_interval=runtime.rate_limiter("sms:interval", 1, limits.SMS_INTERVAL),
        reauth_limiter=runtime.rate_limiter("reauth", limits.REAUTH_ATTEMPTS, limits.REAUTH_WINDOW),
        # real name (issue 5): identity sources, verified identities, attempt limits
        connectors=build_connectors(connectors, runtime), identities=identities, organisations=organisations,
        agents=agents,
        realname_limiter=runtime.rate_limiter("realname", REALNAME_ATTEMPTS, REALNAME_WINDOW),
        organisation_limiter=runtime.rate_limiter("organisation-register", REALNAME_ATTEMPTS, REALNAME_WINDOW),
        strong_realname_limiter=runtime.rate_limiter("strong-realname", strong.ATTEMPTS, strong.WINDOW),
        federation=Upstreams(engine, keystore),  # national platform (idp/federation)
        certlogin=CertificateLogin(trust=cert_login.trust, crls=cert_login.crls,
                                   allow_fetching=cert_login.allow_fetching, identities=identities,
                                   organisations=organisations),
        certlogin_replay=runtime.replay_cache("certlogin"),
        certlogin_limiter=runtime.rate_limiter("certlogin", 20, 60),
        licence_limiter=runtime.rate_limiter("licencelogin", 30, 60),
        certlogin_proxies=cert_login.proxies, certlogin_header=cert_login.header,
        passkeys=Passkeys(engine),
        operators=Operators(engine))
    for blueprint in blueprints():
        app.register_blueprint(blueprint)
    # Every page of the app (error pages rendered outside a blueprint included) speaks the page's
    # language and shows levels, methods and times in plain words (idp/words.py).
    app.context_processor(i18n.template_globals)
    app.after_request(remember_display_choices)
    words.install(app)
