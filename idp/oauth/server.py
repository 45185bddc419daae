"""The Authlib authorization server: grants, PKCE, OpenID Connect, introspection, revocation.

Authlib validates the protocol; everything it persists or mints goes through idp/oauth/tokens.py,
so the token contract of DESIGN.md lives in one place.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidClientError, InvalidRequestError, grants
from authlib.oauth2.rfc6749.hooks import hooked
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc9207 import IssuerParameter
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from sqlalchemy import insert, select, update

from idp import assurance
from idp.accounts.store import Accounts, User
from idp.models import codes_table
from idp.oauth.clients import Client, ClientRegistry
from idp.oauth.tokens import ACCESS_TOKEN_LIFETIME, Grant, Tokens, token_hash
from keys import jose
from keys.dpop import DpopError, verify_proof
from keys.storage import utcnow

CODE_LIFETIME = timedelta(minutes=1)
# org: acting for an organisation (idp/agents/store.py); verified_claims: OIDC4IA (idp/assurance.py)
SCOPES = ["openid", "profile", "phone", "offline_access", "org", "verified_claims"]


@dataclass
class CodeRecord:
    """An authorization code as Authlib's AuthorizationCodeMixin sees it."""

    code_hash: bytes
    client_id: str
    sub: str
    sid: str | None
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    resource: str | None
    acr: str | None
    auth_time: int
    amr: list | None = None  # as the session was when the code was issued

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str | None:
        return self.acr

    def get_amr(self):
        return None


@dataclass
class RefreshCredential:
    """A refresh token as Authlib's TokenMixin sees it (already used by the time we return it)."""

    grant: Grant
    org: dict | None = None  # the grant's live ``org`` claim when it acts for an organisation

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.grant.client_id

    def get_scope(self) -> str:
        return self.grant.scope

    def is_expired(self) -> bool:
        return False

    def is_revoked(self) -> bool:
        return False

    def get_user(self):
        return None


@dataclass
class TokenView:
    """A presented token for introspection and revocation (access JWT or refresh token)."""

    kind: str  # "access" | "refresh"
    claims: dict | None = None
    grant: Grant | None = None

    def check_client(self, client: Client) -> bool:
        owner = self.claims["client_id"] if self.kind == "access" else self.grant.client_id
        return owner == client.client_id

    def is_expired(self) -> bool:
        return False  # query_token returns only live tokens

    def is_revoked(self) -> bool:
        return False


class S256Only(CodeChallenge):
    """PKCE (RFC 7636) with S256 only; required for public clients (RFC 9700 §2.1.1)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant, redirect_uri):
        pkce_step(grant.request.client, grant.request.payload.data)
        return super().validate_code_challenge(grant, redirect_uri)


def pkce_step(client: Client, params) -> None:
    """The PKCE rule of /authorize and of PAR (one rule, two callers): S256 only, and a public client
    must send a code_challenge. InvalidRequestError otherwise."""
    if params.get("code_challenge") and params.get("code_challenge_method") != "S256":
        raise InvalidRequestError("code_challenge_method must be S256 ('plain' is not accepted)")
    if not params.get("code_challenge") and client.is_public:
        raise InvalidRequestError("public clients must use PKCE (code_challenge with S256)")


class InvalidDpopProofError(OAuth2Error):
    error = "invalid_dpop_proof"


class DpopBinding:
    """DPoP (RFC 9449 §5) as an extension of the token grants, through Authlib's grant hooks: before a
    token request is validated, the DPoP proof it carries (if any) is checked for POST at the token
    endpoint, and its key thumbprint (``request.dpop_jkt``) binds every token the grant issues."""

    def __init__(self, token_url: str, replay_cache) -> None:
        self.token_url, self.replay_cache = token_url, replay_cache

    def __call__(self, grant) -> None:
        grant.register_hook("before_validate_token_request", self.check_proof)

    def check_proof(self, grant) -> None:
        proofs = grant.request.headers.getlist("DPoP")
        if not proofs:
            return
        try:
            if len(proofs) > 1:
                raise DpopError("one DPoP proof per request")
            grant.request.dpop_jkt = verify_proof(proofs[0], method="POST", url=self.token_url,
                                                  replay_cache=self.replay_cache).jkt
        except DpopError as error:
            raise InvalidDpopProofError(str(error)) from None


def _dpop_jkt(request) -> str | None:
    """The key thumbprint of the DPoP proof DpopBinding checked for this token request, if any."""
    return getattr(request, "dpop_jkt", None)


class IdpServer(AuthorizationServer):
    """Carries the IdP's services so that grants reach them through ``self.server``."""

    def __init__(self, clients: ClientRegistry, accounts: Accounts, tokens: Tokens, issuer: str) -> None:
        super().__init__(query_client=clients.get, save_token=lambda token, request: None)
        self.clients, self.accounts, self.tokens, self.issuer = clients, accounts, tokens, issuer
        self.scopes_supported = SCOPES
        self.agents = None  # idp.agents.store.Agents (acting for an organisation, scope org), set by create_server

    def create_oauth2_request(self, request):
        """Authlib's Flask server always wraps the global request; a pushed authorization request
        (RFC 9126) hands us a rebuilt one, which must be the one validated."""
        from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Request
        from flask import request as current_request

        return FlaskOAuth2Request(request if request is not None else current_request)

    def validate_requested_scope(self, scope):
        # Unknown scopes are dropped by the client's allowed-scope filter rather than refused.
        return None


CONFIDENTIAL_AUTH = ["client_secret_basic", "client_secret_post", "client_assertion_jwt"]


class PrivateKeyJwt(JWTBearerClientAssertion):
    """RFC 7523 §2.2 client authentication, advertised as ``private_key_jwt`` (OIDC Core §9).

    Authlib names it ``client_assertion_jwt``; the client's public keys come from its registered
    ``jwks``; each assertion's ``jti`` is accepted once (replay cache, Redis in production), and
    the cache keeps it until the assertion has expired (``exp`` plus the leeway). An assertion
    lives at most :data:`MAX_ASSERTION_LIFETIME` (RFC 7523 §3 items 4–5 let the server refuse an
    ``exp`` unreasonably far ahead): ``exp`` no more than that after ``iat`` and, with or without
    ``iat``, no more than that (plus the leeway) from now — so a leaked assertion is worth
    minutes, and the replay cache never has to remember a ``jti`` for years.
    """

    def __init__(self, issuer: str, replay_cache) -> None:
        super().__init__(validate_jti=True)
        self._issuer, self._replay = issuer, replay_cache

    def get_audiences(self):
        issuer = self._issuer
        return [issuer, f"{issuer}/token", f"{issuer}/par", f"{issuer}/introspect", f"{issuer}/revoke"]

    def verify_claims(self, claims) -> None:
        _check_assertion_lifetime(claims, self.leeway)
        super().verify_claims(claims)

    def validate_jti(self, claims, jti) -> bool:
        lifetime = max(int(claims["exp"]) - int(time.time()), 0) + self.leeway + 1
        return self._replay.first_use(f"{claims['iss']}:{jti}", ttl_seconds=lifetime)

    def resolve_client_public_key(self, client: Client):
        from joserfc.jwk import KeySet

        jwks = client.metadata.get("jwks") or {}
        if client.token_endpoint_auth_method != "private_key_jwt" or not jwks.get("keys"):
            # a client with a secret (or none) has no keys: its name in ``sub`` proves nothing
            raise InvalidClientError(description="the client does not authenticate with private_key_jwt")
        return KeySet.import_key_set(jwks)

    def process_assertion_claims(self, assertion, resolve_key):
        """Authlib's, without quoting joserfc's message (it may hold the assertion's ``kid``, and
        Authlib refuses to build an error description outside RFC 6749's character set)."""
        from joserfc import jwt
        from joserfc.errors import JoseError

        try:
            token = jwt.decode(assertion, resolve_key)
        except JoseError:
            raise InvalidClientError(description="the client assertion is not signed by a key of the client") \
                from None
        self.verify_claims(token.claims)
        return token.claims


MAX_ASSERTION_LIFETIME = 300  # seconds


def _check_assertion_lifetime(claims, leeway: int) -> None:
    """Refuse a client assertion valid for longer than MAX_ASSERTION_LIFETIME (see PrivateKeyJwt)."""
    exp, iat = claims.get("exp"), claims.get("iat")
    if not _is_number(exp):
        return  # missing or malformed: Authlib's claim checks refuse it
    if _is_number(iat) and exp - iat > MAX_ASSERTION_LIFETIME:
        raise InvalidClientError(description=f"the client assertion may live at most {MAX_ASSERTION_LIFETIME} "
                                             "seconds (exp - iat)")
    if exp - time.time() > MAX_ASSERTION_LIFETIME + leeway:
        raise InvalidClientError(description=f"the client assertion must expire within {MAX_ASSERTION_LIFETIME} "
                                             "seconds")


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = [*CONFIDENTIAL_AUTH, "none"]

    def save_authorization_code(self, code: str, request) -> None:
        from flask import g

        session = g.yitong_session
        payload = request.payload.data
        with self.server.tokens.engine.begin() as conn:
            conn.execute(insert(codes_table).values(
                code_hash=token_hash(code), client_id=request.client.client_id, sub=request.user.sub,
                sid=session.sid, redirect_uri=payload.get("redirect_uri") or request.client.redirect_uris[0],
                scope=request.scope or "", nonce=payload.get("nonce"),
                code_challenge=payload.get("code_challenge"),
                code_challenge_method=payload.get("code_challenge_method"), resource=payload.get("resource"),
                acr=session.acr, auth_time=session.auth_time, expires_at=utcnow() + CODE_LIFETIME,
                used_at=None, grant_id=None, amr=list(session.amr)))
            acting = g.get("yitong_acting")  # the organisation chosen at /authorize (scope org), if any
            if acting is not None and self.server.agents is not None:
                self.server.agents.bind_code(conn, token_hash(code), request.user.sub, acting)
        assurance.remember(self.server.tokens.engine, token_hash(code), payload.get("claims"))  # OIDC4IA

    def query_authorization_code(self, code: str, client: Client) -> CodeRecord | None:
        if client.cas:  # a CAS service ticket is a code written "ST-<code>" (idp/oauth/cas.py): ticket → token
            code = code.removeprefix("ST-")
        with self.server.tokens.reads.connect() as conn:
            row = conn.execute(select(codes_table).where(codes_table.c.code_hash == token_hash(code))).first()
        if row is None or row.client_id != client.client_id:
            return None
        if row.used_at is not None:
            # RFC 6749 §4.1.2: a code used twice revokes what the first use produced.
            if row.grant_id:
                self.server.tokens.revoke_grant(row.grant_id)
            return None
        if row.expires_at <= utcnow():
            return None
        fields = CodeRecord.__dataclass_fields__
        return CodeRecord(**{name: getattr(row, name) for name in fields})

    def delete_authorization_code(self, authorization_code: CodeRecord) -> None:
        pass  # marked used in generate_token, atomically, before any token is returned

    def authenticate_user(self, authorization_code: CodeRecord) -> User | None:
        return self.server.accounts.get(authorization_code.sub)

    def generate_token(self, user=None, scope=None, grant_type=None, expires_in=None, include_refresh_token=True):
        code: CodeRecord = self.request.authorization_code
        tokens: Tokens = self.server.tokens
        agents = self.server.agents
        binding = agents.binding_of_code(code.code_hash) if agents is not None else None
        org = agents.live_claim(binding) if binding is not None else None
        if binding is not None and org is None:  # the agent was revoked or expired since the choice
            from authlib.oauth2.rfc6749 import InvalidGrantError

            raise InvalidGrantError("the authorisation to act for the organisation is no longer valid")
        grant = tokens.new_grant(client_id=code.client_id, sub=code.sub, sid=code.sid, scope=code.scope,
                                 resource=code.resource, acr=code.acr, auth_time=code.auth_time,
                                 dpop_jkt=_dpop_jkt(self.request))
        with tokens.engine.begin() as conn:
            claimed = conn.execute(update(codes_table).where(
                codes_table.c.code_hash == code.code_hash, codes_table.c.used_at.is_(None))
                .values(used_at=utcnow(), grant_id=grant.grant_id)).rowcount
            if claimed and binding is not None:
                agents.bind_grant(conn, code.code_hash, grant.grant_id)
        if claimed:
            assurance.attach_grant(tokens.engine, code.code_hash, grant.grant_id)
        if not claimed:  # a concurrent second use won the race: refuse and revoke
            tokens.revoke_grant(grant.grant_id)
            from authlib.oauth2.rfc6749 import InvalidGrantError

            raise InvalidGrantError("the authorization code was already used")
        return _token_response(tokens, grant, self.request, include_refresh_token, org=org)


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = [*CONFIDENTIAL_AUTH, "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    @hooked  # as AuthorizationCodeGrant's is, so that DpopBinding runs before the refresh token is used
    def validate_token_request(self):
        super().validate_token_request()

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshCredential | None:
        grant = self.server.tokens.use_refresh_token(refresh_token, self.request.client.client_id,
                                                    _dpop_jkt(self.request))
        if grant is None:
            return None
        agents = self.server.agents
        binding = agents.binding_of_grant(grant.grant_id) if agents is not None else None
        org = agents.live_claim(binding) if binding is not None else None
        if binding is not None and org is None:  # a revoked or expired agent: the grant ends here
            self.server.tokens.revoke_grant(grant.grant_id)
            return None
        return RefreshCredential(grant, org)

    def authenticate_user(self, credential: RefreshCredential) -> User | None:
        return self.server.accounts.get(credential.grant.sub)

    def revoke_old_credential(self, credential: RefreshCredential) -> None:
        pass  # already marked used in authenticate_refresh_token (atomically)

    def generate_token(self, user=None, scope=None, grant_type=None, expires_in=None, include_refresh_token=True):
        credential: RefreshCredential = self.request.refresh_token
        return _token_response(self.server.tokens, credential.grant, self.request, True, scope=scope,
                               org=credential.org)


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_AUTH

    @hooked  # as AuthorizationCodeGrant's is (DpopBinding)
    def validate_token_request(self):
        super().validate_token_request()

    def generate_token(self, user=None, scope=None, grant_type=None, expires_in=None, include_refresh_token=True):
        client: Client = self.request.client
        granted = client.get_allowed_scope(scope or client.scope)
        jkt = _dpop_jkt(self.request)
        access = self.server.tokens.access_token(None, client_id=client.client_id, scope=granted,
                                                 resource=self.request.payload.data.get("resource"), dpop_jkt=jkt)
        return {"access_token": access, "token_type": "DPoP" if jkt else "Bearer",
                "expires_in": int(ACCESS_TOKEN_LIFETIME.total_seconds()), "scope": granted}


def _token_response(tokens: Tokens, grant: Grant, request, refresh: bool, scope: str | None = None,
                    org: dict | None = None) -> dict:
    client: Client = request.client
    granted = scope or grant.scope
    jkt = _dpop_jkt(request)
    access = tokens.access_token(grant, client_id=client.client_id, scope=granted, resource=grant.resource,
                                 acr=grant.acr, auth_time=grant.auth_time, sub=grant.sub, dpop_jkt=jkt,
                                 org=org if "org" in granted.split() else None)
    token = {"access_token": access, "token_type": "DPoP" if jkt else "Bearer",
             "expires_in": int(ACCESS_TOKEN_LIFETIME.total_seconds()), "scope": granted}
    if refresh and client.check_grant_type("refresh_token"):
        token["refresh_token"] = tokens.refresh_token(grant)
    return token


class YitongOpenIDCode(OpenIDCode):
    """ID tokens signed by keys/jose (ES256 by default, SM2 when the client registered it)."""

    def exists_nonce(self, nonce, request) -> bool:
        return False  # a nonce is bound to its code; replay is stopped by single-use codes

    def generate_user_info(self, user: User, scope: str) -> UserInfo:
        return user_claims(user, scope)

    def encode_id_token(self, token, request):
        code: CodeRecord | None = request.authorization_code
        client: Client = request.client
        alg = client.id_token_signed_response_alg
        at_hash = jose.half_hash(token["access_token"], alg) if token.get("access_token") else None
        wanted = assurance.request_for_code(self._tokens.engine, code.code_hash if code else None, "id_token")
        claims = dict(user_claims(request.user, token["scope"], client=client, claims_request=wanted))
        subject = self._tokens.subject_for(client, request.user.sub)  # pairwise, if the client opted in
        claims["sub"] = subject
        amr = (code.amr or self._accounts.session_amr(code.sid)) if code else None
        if amr:
            claims["amr"] = amr
        agents = self._agents
        if code is not None and agents is not None and "org" in token["scope"].split():
            org = agents.live_claim(agents.binding_of_code(code.code_hash))
            if org:
                claims["org"] = org
        return self.server_tokens(request).id_token(
            client_id=client.client_id, alg=alg, sub=subject,
            claims=claims, nonce=code.nonce if code else None,
            auth_time=code.auth_time if code else None, acr=code.acr if code else None,
            sid=code.sid if code else None, at_hash=at_hash)

    def __init__(self, tokens: Tokens, accounts: Accounts, agents=None) -> None:
        super().__init__(require_nonce=False)
        self._tokens = tokens
        self._accounts = accounts
        self._agents = agents

    def server_tokens(self, request) -> Tokens:
        return self._tokens


def user_claims(user: User, scope: str, client: Client | None = None, claims_request=None) -> UserInfo:
    """Claims for ``scope``; ``verified_claims`` only with ``client`` and its release policy (and, when
    the ``claims`` parameter asked for them, only what it asked: ``claims_request``)."""
    scopes = set(scope.split())
    info = UserInfo(sub=user.sub)
    if "profile" in scopes:
        if user.username:  # OIDC Core §5.3.2: an absent claim is omitted, never null (phone sign-ups)
            info["preferred_username"] = user.username
        if user.name:
            info["name"] = user.name
    if "phone" in scopes and user.phone:
        info["phone_number"] = "+86" + user.phone
        info["phone_number_verified"] = True
    if client is not None:
        from idp.services import services

        verified = assurance.verified_claims(services().identities, user.sub, scope,
                                             assurance.release_of(client), claims_request)
        if verified is not None:
            info["verified_claims"] = verified
    return info


def _acting_holds(server: IdpServer, *, access_jti: str | None = None, grant_id: str | None = None) -> bool:
    """False when the token acts for an organisation and that authorisation no longer holds (agent
    revoked or expired, or no longer the legal representative); checked at every introspection."""
    agents = server.agents
    if agents is None:
        return access_jti is None  # an org claim we cannot check is not trusted
    binding = agents.binding_of_access_token(access_jti) if access_jti else agents.binding_of_grant(grant_id)
    if access_jti and binding is None:
        return False  # an access token with an org claim always has a binding
    return binding is None or agents.live_claim(binding) is not None


class Introspection(IntrospectionEndpoint):
    """RFC 7662: any authenticated client may introspect (resource servers are clients too)."""

    CLIENT_AUTH_METHODS = CONFIDENTIAL_AUTH

    def query_token(self, token_string, token_type_hint):
        tokens: Tokens = self.server.tokens
        if token_type_hint != "refresh_token":
            claims = tokens.check_access_token(token_string, any_audience=True)
            if claims and claims.get("org") and not _acting_holds(self.server, access_jti=claims.get("jti")):
                return None  # acting for an organisation through an agent since revoked or expired
            if claims:
                return TokenView("access", claims=claims)
        grant, active = tokens.peek_refresh_token(token_string)
        if grant and active and _acting_holds(self.server, grant_id=grant.grant_id):
            return TokenView("refresh", grant=grant)
        return None

    def check_permission(self, token, client, request) -> bool:
        return True

    def introspect_token(self, token: TokenView) -> dict:
        if token.kind == "access":
            return {"active": True, "token_type": "Bearer", **token.claims}
        grant = token.grant
        # RFC 7662 §2.2 token_type names an access-token type (RFC 6749 §7.1): none for a refresh token.
        return {"active": True, "client_id": grant.client_id, "sub": grant.sub, "scope": grant.scope,
                "iss": self.server.issuer}


class Revocation(RevocationEndpoint):
    """RFC 7009: revoking a refresh token revokes its grant; an access token, itself."""

    CLIENT_AUTH_METHODS = [*CONFIDENTIAL_AUTH, "none"]

    def query_token(self, token_string, token_type_hint):
        return Introspection.query_token(self, token_string, token_type_hint)

    def revoke_token(self, token: TokenView, request) -> None:
        tokens: Tokens = self.server.tokens
        if token.kind == "refresh":
            tokens.revoke_grant(token.grant.grant_id)
        else:
            tokens.revoke_access_token(token.claims["jti"])


def create_server(clients: ClientRegistry, accounts: Accounts, tokens: Tokens, issuer: str,
                  assertion_replay, dpop_replay, agents=None) -> IdpServer:
    server = IdpServer(clients, accounts, tokens, issuer)
    server.agents = agents
    server.register_client_auth_method(PrivateKeyJwt.CLIENT_AUTH_METHOD, PrivateKeyJwt(issuer, assertion_replay))
    dpop = DpopBinding(f"{issuer}/token", dpop_replay)
    server.register_grant(AuthorizationCodeGrant, [S256Only(required=False),
                                                   YitongOpenIDCode(tokens, accounts, agents), dpop])
    server.register_grant(RefreshTokenGrant, [dpop])
    server.register_grant(ClientCredentialsGrant, [dpop])
    server.register_endpoint(Introspection)
    server.register_endpoint(Revocation)

    class _Issuer(IssuerParameter):
        def get_issuer(self) -> str:
            return issuer

    server.register_extension(_Issuer())
    return server
