"""Verified claims (OpenID Connect for Identity Assurance 1.0) and the per-client release policy.

What a relying party receives
- With the ``verified_claims`` scope — a pre-defined claim set requested by scope (OIDC4IA 1.0
  §6 "Requesting Verified Claims": besides the ``claims`` parameter "it is also possible to use
  the scope parameter to request one or more specific pre-defined Claim sets", OIDC Core §5.4) —
  the ID token and the userinfo response carry::

      "verified_claims": {
        "verification": {"trust_framework": "cn_population_library",
                         "time": "2026-11-28T03:00:00+00:00",
                         "evidence": [{"type": "electronic_record", ...}]},
        "claims": {"name": "张三", "urn:yitong:claims:id_number": "11010519491231002X"}}

  ``trust_framework``, ``time`` and ``evidence`` are what was recorded when the identity was
  proved (idp/realname: the population library; idp/federation: the upstream platform vouching).
- The ID number travels only inside ``verified_claims.claims``, under the collision-resistant
  name :data:`ID_NUMBER_CLAIM` (OIDC Core §5.1.2 asks additional claims to use collision-resistant
  names; ``urn:yitong:`` is the namespace our ``acr`` values already use; the OIDC4IA claims
  registry defines no national-ID-number claim).

Who may receive it (issue 5 item 8): a client's ``yitong_release`` metadata, set only by operators
(``yitong client create|update --release verified_claims [--release id_number]``; dynamic
registration cannot set it). A client without the permission that asks for the scope gets no
``verified_claims`` and no ID number, and the authorization still succeeds: OIDC Core §5.4/§5.5
make scope- and claims-requested claims voluntary, and OIDC4IA lets the OP omit verified claims
it is unable or unwilling to release, so "silently not released" keeps ordinary sign-in working
(the check is on the release policy itself, not on which scopes the token names). ``id_number`` is a
second, separate permission: without it the set carries the name only.

A person without a verified identity gets no ``verified_claims`` at all (never an empty one).
"""

from __future__ import annotations

from idp.identity.store import Identities

SCOPE = "verified_claims"
ID_NUMBER_CLAIM = "urn:yitong:claims:id_number"
RELEASES = ("verified_claims", "id_number")  # what an operator may allow a client (yitong_release)
TRUST_FRAMEWORKS = ("cn_population_library",)  # idp/realname; upstream platforms add theirs
EVIDENCE_TYPES = ("electronic_record", "vouch")  # realname: library record; federation: the upstream vouches
CLAIMS_IN_VERIFIED_CLAIMS = ("name", ID_NUMBER_CLAIM)


def release_of(client) -> set[str]:
    """The releases an operator allowed this client (empty for None or an unknown client)."""
    return set((getattr(client, "metadata", None) or {}).get("yitong_release") or [])


def verified_claims(identities: Identities, sub: str, scope: str, release: set[str]) -> dict | None:
    """The ``verified_claims`` element for this person, scope and client release, or None."""
    if SCOPE not in scope.split() or "verified_claims" not in release:
        return None
    identity = identities.get(sub)
    if identity is None:
        return None
    claims = {"name": identity.name}
    if "id_number" in release:
        claims[ID_NUMBER_CLAIM] = identities.id_number(sub)
    evidence = identity.evidence if isinstance(identity.evidence, list) else [identity.evidence]
    return {"verification": {"trust_framework": identity.trust_framework,
                             "time": identity.verified_at.isoformat(),
                             "evidence": evidence},
            "claims": claims}


def discovery_metadata(trust_frameworks: list[str]) -> dict:
    """OIDC4IA §8 (OP metadata) entries of the discovery document."""
    return {"verified_claims_supported": True,
            "trust_frameworks_supported": list(dict.fromkeys([*TRUST_FRAMEWORKS, *trust_frameworks])),
            "evidence_supported": list(EVIDENCE_TYPES),
            "claims_in_verified_claims_supported": list(CLAIMS_IN_VERIFIED_CLAIMS)}
