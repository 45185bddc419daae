"""What dynamic client registration (RFC 7591, idp/oauth/registration.py) may grant: the one list.

RFC 7591 §2 lets the server refuse or replace any metadata it will not grant, and §3.2.2
names the error (``invalid_client_metadata``). A registrant holds only the shared initial
access token, so registration grants exactly what any portal may take without an operator:

Self-service scopes — each one is shown to the person at /authorize and releases only that
person's own data, or an ability the person already holds, once they consent:

- ``openid``, ``profile``, ``phone``, ``email``, ``address``: OpenID Connect sign-in and the
  standard claims about the person (OIDC Core §5.4; this provider holds no e-mail or postal
  address, so the last two release nothing, but an RP library asking for them by default can
  still register);
- ``offline_access``: refresh tokens for the person's grant (only with the refresh_token grant);
- ``org``: acting for an organisation the person represents or is an active agent of; the person
  chooses it at /authorize and the authorisation is checked again at every use (idp/agents/store.py);
- ``verified_claims``: OIDC4IA claims are released only under a client's release policy
  (``yitong_release``, idp/assurance.py), which only an operator sets; asking for the scope
  without one yields nothing, so a self-registered client never sees a name or an ID number.

Everything else needs an operator (``yitong client create`` / the admin API), in particular
``yitong:admin`` (the admin REST API, which can rewrite every client's redirect URIs),
``seal:read`` / ``seal:sign`` and any other ``seal:*`` (the seal service), ``licence:*``
(licence issuing and sharing), and any scope not listed here: an unknown scope is refused rather than
silently dropped, so a new privileged scope is privileged from the day it is added.

Grant types: ``authorization_code`` and ``refresh_token``. ``client_credentials`` is refused:
a client acting for itself is what every privileged use is (the admin API, a seal back office,
a resource server introspecting), and with self-service scopes only its tokens would name no
person (userinfo refuses them) — harmless today but useless, and one careless addition to the
list above away from a privilege nobody consented to.

A client registered before these rules may still hold a privileged scope in its metadata; it
is never granted (:func:`granted_scopes` is applied to every token request of a self-registered
client), until an operator re-creates or updates it.
"""

from __future__ import annotations

SELF_SERVICE_SCOPES = frozenset({"openid", "profile", "phone", "email", "address", "offline_access", "org",
                                 "verified_claims"})
SELF_SERVICE_GRANT_TYPES = ("authorization_code", "refresh_token")
# Set in the metadata of every client made by RFC 7591 (a keyed hash of its registration
# access token); an operator's update rebuilds the metadata without it.
REGISTRATION_TOKEN_KEY = "yitong_registration_token_hash"


def refusal(metadata: dict) -> str | None:
    """Why registration may not grant these (built) metadata, or None when it may."""
    privileged = [s for s in metadata.get("scope", "").split() if s not in SELF_SERVICE_SCOPES]
    if privileged:
        return (f"scope {' '.join(privileged)} cannot be registered; self-service scopes are "
                f"{' '.join(sorted(SELF_SERVICE_SCOPES))} (others need an operator)")
    grants = [g for g in metadata.get("grant_types", []) if g not in SELF_SERVICE_GRANT_TYPES]
    if grants:
        return (f"grant type {' '.join(grants)} cannot be registered; self-service grant types are "
                f"{' '.join(SELF_SERVICE_GRANT_TYPES)} (others need an operator)")
    return None


def granted_scopes(metadata: dict, scopes: set[str]) -> set[str]:
    """``scopes`` less what a self-registered client may never be granted."""
    return scopes & SELF_SERVICE_SCOPES if REGISTRATION_TOKEN_KEY in metadata else scopes
