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

With the ``claims`` parameter (OIDC Core §5.5; OIDC4IA §6 "Requesting Verified Claims") a client
asks for individual verified claims, per target (``id_token`` and/or ``userinfo``), e.g.
``{"userinfo": {"verified_claims": {"verification": {"trust_framework": null},
"claims": {"name": null}}}}``: it then receives only the claims it names (still within its release
policy), ``verification`` with ``trust_framework`` and the other elements it names (``time``,
``evidence``), and nothing when its ``trust_framework`` ``value``/``values`` constraint does not
match or it names no claim we have. Such a request needs no scope; the request is kept with the
authorization code and the grant (idp_claims_requests).

A person without a verified identity gets no ``verified_claims`` at all (never an empty one).
"""

from __future__ import annotations

import json

from sqlalchemy import Engine, insert, select, update

from idp.identity.store import Identities
from idp.models import access_tokens_table, claims_requests_table
from keys.storage import utcnow

SCOPE = "verified_claims"
ID_NUMBER_CLAIM = "urn:yitong:claims:id_number"
RELEASES = ("verified_claims", "id_number")  # what an operator may allow a client (yitong_release)
TRUST_FRAMEWORKS = ("cn_population_library",)  # idp/realname; upstream platforms add theirs
EVIDENCE_TYPES = ("electronic_record", "vouch")  # realname: library record; federation: the upstream vouches
CLAIMS_IN_VERIFIED_CLAIMS = ("name", ID_NUMBER_CLAIM)


def release_of(client) -> set[str]:
    """The releases an operator allowed this client (empty for None or an unknown client)."""
    return set((getattr(client, "metadata", None) or {}).get("yitong_release") or [])


def verified_claims(identities: Identities, sub: str, scope: str, release: set[str],
                    request: dict | list | None = None) -> dict | None:
    """The ``verified_claims`` element for this person, scope (or ``claims``-parameter request for
    this target) and client release, or None."""
    if "verified_claims" not in release or (request is None and SCOPE not in scope.split()):
        return None
    identity = identities.get(sub)
    if identity is None:
        return None
    claims = {"name": identity.name}
    if "id_number" in release:
        claims[ID_NUMBER_CLAIM] = identities.id_number(sub)
    evidence = identity.evidence if isinstance(identity.evidence, list) else [identity.evidence]
    full = {"verification": {"trust_framework": identity.trust_framework,
                             "time": identity.verified_at.isoformat(),
                             "evidence": evidence},
            "claims": claims}
    if request is None:
        return full
    for one in request if isinstance(request, list) else [request]:  # the first request we can answer
        answered = _answer(full, one)
        if answered is not None:
            return answered
    return None


def _answer(full: dict, request) -> dict | None:
    """``full`` cut down to what one verified_claims request names, or None if it cannot be met."""
    if not isinstance(request, dict) or not isinstance(request.get("claims"), dict):
        return None
    claims = {name: value for name, value in full["claims"].items() if name in request["claims"]}
    if not claims:  # OIDC4IA: a request names at least one claim; none we have means nothing to release
        return None
    wanted = request.get("verification") if isinstance(request.get("verification"), dict) else {}
    framework = wanted.get("trust_framework")
    if isinstance(framework, dict):
        allowed = [framework["value"]] if "value" in framework else framework.get("values")
        if isinstance(allowed, list) and full["verification"]["trust_framework"] not in allowed:
            return None
    verification = {"trust_framework": full["verification"]["trust_framework"]}
    verification.update({k: v for k, v in full["verification"].items() if k in wanted and k != "trust_framework"})
    return {"verification": verification, "claims": claims}


# -- claims-parameter requests, kept from the authorization code to the grant -------------------------------
TARGETS = ("id_token", "userinfo")


def requested(raw: str | None) -> dict | None:
    """The verified_claims requests of a ``claims`` parameter, per target, or None (absent or malformed:
    a malformed parameter requests nothing here)."""
    if not raw:
        return None
    try:
        parsed = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    out = {}
    for target in TARGETS:
        section = parsed.get(target)
        wanted = section.get("verified_claims") if isinstance(section, dict) else None
        if isinstance(wanted, (dict, list)):
            out[target] = wanted
    return out or None


def remember(engine: Engine, code_hash: bytes, raw: str | None) -> None:
    wanted = requested(raw)
    if wanted is None:
        return
    with engine.begin() as conn:
        conn.execute(insert(claims_requests_table).values(code_hash=code_hash, grant_id=None, request=wanted,
                                                          created_at=utcnow()))


def attach_grant(engine: Engine, code_hash: bytes, grant_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(update(claims_requests_table).where(claims_requests_table.c.code_hash == code_hash)
                     .values(grant_id=grant_id))


def request_for_code(engine: Engine, code_hash: bytes | None, target: str):
    if code_hash is None:
        return None
    with engine.connect() as conn:
        wanted = conn.execute(select(claims_requests_table.c.request)
                              .where(claims_requests_table.c.code_hash == code_hash)).scalar()
    return (wanted or {}).get(target)


def request_for_access_token(engine: Engine, jti: str | None, target: str):
    """The request of the grant an access token belongs to (userinfo)."""
    if not jti:
        return None
    table = claims_requests_table
    with engine.connect() as conn:
        wanted = conn.execute(select(table.c.request).join(
            access_tokens_table, access_tokens_table.c.grant_id == table.c.grant_id)
            .where(access_tokens_table.c.jti == jti)).scalar()
    return (wanted or {}).get(target)


def discovery_metadata(trust_frameworks: list[str]) -> dict:
    """OIDC4IA §8 (OP metadata) entries of the discovery document."""
    return {"verified_claims_supported": True,
            "trust_frameworks_supported": list(dict.fromkeys([*TRUST_FRAMEWORKS, *trust_frameworks])),
            "evidence_supported": list(EVIDENCE_TYPES),
            "claims_in_verified_claims_supported": list(CLAIMS_IN_VERIFIED_CLAIMS)}
