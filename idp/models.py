"""idp_ tables: accounts, clients, authorization codes, grants and tokens, SSO sessions, audit."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    text,
)

from keys.auditchain.models import link_columns
from keys.storage import UTCDateTime, new_metadata

metadata = new_metadata()

users_table = Table(
    "idp_users",
    metadata,
    Column("sub", String(64), primary_key=True),  # stable, random, never reused
    Column("username", String(64), nullable=True, unique=True),
    Column("phone", String(20), nullable=True, unique=True),
    Column("password_hash", String(256), nullable=True),
    Column("acr", String(32), nullable=False),
    Column("name", String(128), nullable=True),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
    # TOTP secret wrapped under the master key (AAD binds sub); recovery codes as argon2id hashes.
    Column("totp_secret_wrapped", LargeBinary, nullable=True),
    Column("recovery_hashes", JSON, nullable=True),
    # Account deletion (issue 5, PIPL art. 47): PII erased, the row kept as a tombstone (audit).
    Column("deleted_at", UTCDateTime, nullable=True),
    Column("locked_at", UTCDateTime, nullable=True),  # a security administrator locked it (issue 17)
)

clients_table = Table(
    "idp_clients",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("secret_hash", LargeBinary, nullable=True),  # HMAC-SM3 under a keystore pepper; None = public
    Column("name", String(128), nullable=False),
    Column("metadata", JSON, nullable=False),  # RFC 7591 names: redirect_uris, grant_types, scope, ...
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# A client's logo (issue 18 item 3): set by operators (`yitong client update --logo`), served by us at
# /clients/<client_id>/logo, so a sign-in page never loads an image from a client's server.
client_logos_table = Table(
    "idp_client_logos",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("content_type", String(32), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Passkeys (issue 18 item 5; idp/passkeys): WebAuthn credentials, for passwordless sign-in or as the second factor.
passkeys_table = Table(
    "idp_passkeys",
    metadata,
    Column("credential_id", String(1400), primary_key=True),  # base64url of up to 1023 bytes (WebAuthn L3 §5.8.3)
    Column("sub", String(64), nullable=False, index=True),
    Column("public_key", LargeBinary, nullable=False),  # COSE_Key
    Column("sign_count", Integer, nullable=False),
    Column("name", String(64), nullable=False),
    Column("synced", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime, nullable=True),
)

codes_table = Table(
    "idp_codes",
    metadata,
    Column("code_hash", LargeBinary, primary_key=True),  # SHA-256 of the code: a DB leak gives no codes
    Column("client_id", String(64), nullable=False),
    Column("sub", String(64), nullable=False),
    Column("sid", String(64), nullable=True),
    Column("redirect_uri", Text, nullable=False),
    Column("scope", Text, nullable=False),
    Column("nonce", Text, nullable=True),
    Column("code_challenge", String(128), nullable=True),
    Column("code_challenge_method", String(8), nullable=True),
    Column("resource", Text, nullable=True),
    Column("acr", String(32), nullable=True),
    Column("auth_time", BigInteger, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime, nullable=True),
    Column("grant_id", String(64), nullable=True),  # the grant the code produced (revoked on replay)
    # How the person had signed in when the code was issued (its ID token's amr; the session may
    # have been raised since). NULL for codes issued before migration 0018: read from the session.
    Column("amr", JSON, nullable=True),
)

grants_table = Table(
    "idp_grants",
    metadata,
    Column("grant_id", String(64), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("sub", String(64), nullable=True),
    Column("sid", String(64), nullable=True),
    Column("scope", Text, nullable=False),
    Column("resource", Text, nullable=True),
    Column("acr", String(32), nullable=True),
    Column("auth_time", BigInteger, nullable=True),
    Column("dpop_jkt", String(64), nullable=True),  # RFC 9449: refresh needs a proof with this key
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    Index("ix_idp_grants_sub", "sub"),
)

refresh_tokens_table = Table(
    "idp_refresh_tokens",
    metadata,
    Column("token_hash", LargeBinary, primary_key=True),
    Column("grant_id", String(64), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime, nullable=True),  # rotated: presenting it again revokes the grant
    Index("ix_idp_refresh_tokens_grant_id", "grant_id"),
)

access_tokens_table = Table(
    "idp_access_tokens",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("grant_id", String(64), nullable=True),  # None for client credentials
    Column("client_id", String(64), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    Index("ix_idp_access_tokens_grant_id", "grant_id"),
)

sessions_table = Table(
    "idp_sessions",
    metadata,
    Column("sid_hash", LargeBinary, primary_key=True),  # SHA-256 of the cookie value
    Column("sid", String(64), nullable=False, unique=True),  # public id (ID token `sid` claim)
    Column("sub", String(64), nullable=False),
    Column("acr", String(32), nullable=False),
    Column("amr", JSON, nullable=False),
    Column("auth_time", BigInteger, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime, nullable=True),
)

par_table = Table(
    "idp_par_requests",
    metadata,
    Column("request_uri_hash", LargeBinary, primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("params", JSON, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime, nullable=True),
)

consents_table = Table(
    "idp_consents",
    metadata,
    Column("sub", String(64), primary_key=True),
    Column("client_id", String(64), primary_key=True),
    Column("scopes", JSON, nullable=False),  # every scope this person has approved for this client
    Column("granted_at", UTCDateTime, nullable=False),
)

audit_table = Table(
    "idp_audit",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("event", String(48), nullable=False),
    Column("sub", String(64), nullable=True),
    Column("client_id", String(64), nullable=True),
    Column("ip", String(64), nullable=True),
    Column("user_agent", String(256), nullable=True),
    Column("detail", JSON, nullable=True),
    *link_columns("idp_audit"),  # tamper evidence (keys/auditchain)
    Index("ix_idp_audit_at", "at"),
)

# Verified identities (real name, issue 5). One row per account; the ID number is SM4-GCM
# encrypted (AAD binds sub) and found through its HMAC-SM3 lookup hash, which is unique: one ID
# number belongs to one account. Evidence says who verified it, how and when (OIDC4IA).
identities_table = Table(
    "idp_identities",
    metadata,
    Column("sub", String(64), primary_key=True),
    Column("id_type", String(16), nullable=False),  # resident / hk / mo / tw (residence permits)
    Column("name", String(128), nullable=False),
    Column("id_number_enc", LargeBinary, nullable=False),
    Column("id_number_hash", LargeBinary, nullable=False, unique=True),
    Column("trust_framework", String(64), nullable=False),
    Column("evidence", JSON, nullable=False),
    Column("verified_at", UTCDateTime, nullable=False),
)

# Organisations (legal persons and other organisations) verified against the legal-person
# library, registered by their legal representative (a real-name person, loa:2 or higher).
organisations_table = Table(
    "idp_organisations",
    metadata,
    Column("uscc", String(18), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("legal_representative_sub", String(64), nullable=False),
    Column("acr", String(32), nullable=False),
    Column("uscc_warnings", JSON, nullable=False),  # GB 32100 / GB 11714 checksum warnings, if any
    Column("trust_framework", String(64), nullable=False),
    Column("evidence", JSON, nullable=False),
    Column("verified_at", UTCDateTime, nullable=False),
    Index("ix_idp_organisations_legal_representative_sub", "legal_representative_sub"),
)

# One-time SMS codes (issue 5): 6 digits, single use, short expiry, limited attempts. The code and
# the phone number are stored only as keyed hashes (HMAC-SM3 under a keystore secret: a million
# codes would be reversed from a plain hash at once); the challenge id travels in the person's
# signed flow cookie.
otp_table = Table(
    "idp_otps",
    metadata,
    Column("challenge_id", String(64), primary_key=True),
    Column("purpose", String(24), nullable=False),
    Column("phone_hash", LargeBinary, nullable=False),
    Column("code_hash", LargeBinary, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime, nullable=True),
    Index("ix_idp_otps_expires_at", "expires_at"),
)

# Consent to the processing of personal information (PIPL art. 14): who consented to which
# version of which notice, when. Kept after account deletion (proof of lawful processing).
privacy_consents_table = Table(
    "idp_privacy_consents",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("sub", String(64), nullable=False),
    Column("document", String(48), nullable=False),
    Column("version", String(32), nullable=False),
    Column("consented_at", UTCDateTime, nullable=False),
    Index("ix_idp_privacy_consents_sub", "sub"),
)

# Agents (经办人, issue 5): natural persons an organisation authorises to act for it. Granted by the
# legal representative (or an agent with the ``admin`` role), active once the agent accepts, until
# ``expires_at`` or revocation. A new authorisation is a new row (history stays); at most one open
# (pending or active) row per organisation and person, enforced by a partial unique index.
agents_table = Table(
    "idp_agents",
    metadata,
    Column("agent_id", String(64), primary_key=True),
    Column("uscc", String(18), nullable=False),
    Column("agent_sub", String(64), nullable=False),
    Column("roles", JSON, nullable=False),  # ["*"] (all services) or named roles/scopes
    Column("status", String(16), nullable=False),  # pending / active / declined / revoked / expired
    Column("expires_at", UTCDateTime, nullable=False),
    Column("granted_by", String(64), nullable=False),
    Column("granted_at", UTCDateTime, nullable=False),
    Column("decided_at", UTCDateTime, nullable=True),  # accepted or declined
    Column("revoked_by", String(64), nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
    Index("ix_idp_agents_uscc", "uscc"),
    Index("ix_idp_agents_agent_sub", "agent_sub"),
    Index("uq_idp_agents_open", "uscc", "agent_sub", unique=True,
          sqlite_where=text("status IN ('pending', 'active')"),
          postgresql_where=text("status IN ('pending', 'active')")),
)

# Acting for an organisation: the choice made at /authorize (scope ``org``), bound to the code and
# then to the grant it produced. ``agent_id`` None = acting as the legal representative.
acting_table = Table(
    "idp_acting",
    metadata,
    Column("code_hash", LargeBinary, primary_key=True),
    Column("grant_id", String(64), nullable=True, unique=True),
    Column("sub", String(64), nullable=False),
    Column("uscc", String(18), nullable=False),
    Column("agent_id", String(64), nullable=True),
    Column("proof", String(16), nullable=True),  # "certificate": the organisation's certificate was presented
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_idp_acting_agent_id", "agent_id"),
)

# Inbound identity brokering (issue 5 item 7, idp/federation): upstream OpenID providers such as
# the national government-service platform, and which upstream subject signed in to which account.
# Accounts are matched ONLY by the keyed hash of a verified ID number (idp_identities); the links
# record what happened, for the account console and for audits, and are never used to match.
federation_upstreams_table = Table(
    "idp_federation_upstreams",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("label", String(128), nullable=False),  # shown on the sign-in page
    Column("issuer", String(255), nullable=False),
    Column("client_id", String(255), nullable=False),
    Column("client_secret_enc", LargeBinary, nullable=False),  # SM4-GCM under a keystore secret, AAD = name
    Column("scope", Text, nullable=False),
    Column("claims", JSON, nullable=False),  # where the ID number, name and level are (dotted paths)
    Column("level_map", JSON, nullable=False),  # upstream level value -> urn:yitong:loa:N
    Column("max_acr", String(32), nullable=False),  # the cap
    Column("trust_framework", String(64), nullable=False),
    Column("ca_file", Text, nullable=True),  # CA certificates trusted for an https upstream
    Column("created_at", UTCDateTime, nullable=False),
)

federation_links_table = Table(
    "idp_federation_links",
    metadata,
    Column("upstream", String(32), primary_key=True),
    Column("upstream_sub", String(255), primary_key=True),
    Column("sub", String(64), nullable=False),
    Column("first_at", UTCDateTime, nullable=False),
    Column("last_at", UTCDateTime, nullable=False),
    Column("last_acr", String(32), nullable=False),
    Index("ix_idp_federation_links_sub", "sub"),
)

# The verified_claims part of an authorization request's ``claims`` parameter (OIDC4IA; OIDC Core
# §5.5), kept with the code and then with the grant it produced, so that the ID token and userinfo
# release only what was asked (idp/assurance.py).
claims_requests_table = Table(
    "idp_claims_requests",
    metadata,
    Column("code_hash", LargeBinary, primary_key=True),
    Column("grant_id", String(64), nullable=True),
    Column("request", JSON, nullable=False),  # {"id_token": {...}, "userinfo": {...}}: verified_claims requests
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_idp_claims_requests_grant_id", "grant_id"),
)


# Operator roles (issue 17, 三员分立): one role per person (or automation client), granted by
# another system administrator; the admin API checks it on every call.
operators_table = Table(
    "idp_operators",
    metadata,
    Column("sub", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("granted_by", String(64), nullable=True),  # None: the first system administrator, from the CLI
    Column("granted_at", UTCDateTime, nullable=False),
    CheckConstraint("role IN ('system', 'security', 'audit')", name="role"),
)
