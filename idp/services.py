"""The IdP's services: one typed object, built once by idp/app.py:register() and kept in
``app.extensions["yitong.idp"]``; request code reaches it through :func:`services`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from idp.accounts.lifecycle import Lifecycle
    from idp.accounts.sms import OneTimeCodes, SmsGateway
    from idp.accounts.store import Accounts
    from idp.agents.store import Agents
    from idp.audit import Audit
    from idp.certlogin.certificates import CertificateLogin
    from idp.connectors import Connectors
    from idp.federation import Upstreams
    from idp.identity import Identities, Organisations
    from idp.oauth.clients import ClientRegistry
    from idp.oauth.consent import Consents, ScopeFamily
    from idp.oauth.par import PushedRequests
    from idp.oauth.server import IdpServer
    from idp.oauth.tokens import SigningKeys, Tokens
    from idp.operators import Operators
    from idp.passkeys.store import Passkeys
    from idp.security import LoginThrottle
    from keys.runtime import JobQueue
    from keys.runtime.cache import RateLimiter, ReplayCache

EXTENSION = "yitong.idp"


@dataclass
class IdpServices:
    # the provider and its protocol (idp/oauth)
    issuer: str
    secure: bool  # the issuer is https: cookies are Secure
    server: IdpServer
    keys: SigningKeys
    clients: ClientRegistry
    tokens: Tokens
    consents: Consents
    par: PushedRequests
    resources: frozenset[str]  # RFC 8707 resource indicators we issue tokens for
    dpop_replay: ReplayCache
    dcr_initial_token: str | None  # dynamic client registration is on when set
    notify_backchannel: Callable  # (sso, client_ids): queue back-channel logout tokens
    jobs: JobQueue
    # accounts, sign-in and their limits (idp/accounts, idp/signin, idp/security)
    accounts: Accounts
    lifecycle: Lifecycle
    audit: Audit
    throttle: LoginThrottle
    captcha_key: bytes
    captcha_replay: ReplayCache
    totp_replay: ReplayCache
    sms: SmsGateway
    sms_gateway_name: str
    sms_codes: OneTimeCodes
    sms_per_ip: RateLimiter
    sms_per_phone: RateLimiter
    sms_interval: RateLimiter
    reauth_limiter: RateLimiter
    # real name, organisations and agents (idp/realname, idp/identity, idp/agents, idp/connectors)
    connectors: Connectors
    identities: Identities
    organisations: Organisations
    agents: Agents
    realname_limiter: RateLimiter
    organisation_limiter: RateLimiter
    strong_realname_limiter: RateLimiter
    # federation with the national platform (idp/federation)
    federation: Upstreams
    # certificate and e-business-licence sign-in (idp/certlogin)
    certlogin: CertificateLogin
    certlogin_replay: ReplayCache
    certlogin_limiter: RateLimiter
    licence_limiter: RateLimiter
    certlogin_proxies: tuple[str, ...]
    certlogin_header: str
    # passkeys (idp/passkeys): WebAuthn, passwordless or as the second factor
    passkeys: Passkeys
    # operator roles (issue 17): who may call which part of the admin API
    operators: Operators
    # scopes described by the composition root (licence:read:<type>), idp/oauth/consent.py:ScopeFamily
    scope_families: list[ScopeFamily] = field(default_factory=list)


def services() -> IdpServices:
    return current_app.extensions[EXTENSION]


def oauth_server() -> IdpServer:
    return services().server
