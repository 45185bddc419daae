"""Agents (经办人) of organisations, and acting for an organisation (issue 5).

An organisation registered by its legal representative (idp_organisations) authorises natural
persons as *agents*: roles (``*`` = every service, or named roles / scopes such as
``seal_keeper``; ``admin`` lets the agent manage the organisation's agents) and an expiry. The
legal representative, or an active agent with the ``admin`` role, grants; the agent must accept
before the authorisation is active; revocation takes effect at once; an expired authorisation
is simply not active (no job has to run). Only real-name persons (a verified identity and
``urn:yitong:loa:2`` or higher) can be agents. The role ``legal_representative`` is never
granted: it is what the legal representative's own acting carries.

Acting: during an authorization request with scope ``org`` the person chooses an organisation
(idp/agents/routes.py). The choice is bound to the code (idp_acting, by the code's hash) and then
to the grant the code produced; every token of that grant carries DESIGN.md's ``org`` claim
``{"uscc", "name", "roles", "acting_as": true, "acr"}`` — ``acr`` says how sure we are of the
*organisation* in this sign-in: its registered level (legal-person library, ``urn:yitong:loa:2``),
or ``urn:yitong:loa:4`` when the person also proved it with the organisation's certificate
(idp/certlogin/certificates.py) or its electronic business licence (idp/certlogin/routes.py); the token's own
``acr`` stays the person's. :meth:`Agents.live_claim` re-checks the
binding — agent still active and unexpired, or the person still the legal representative — at
the code exchange, at every refresh and at every introspection, so a revoked or expired agent
stops at once for everything that asks the IdP; revoking an agent also revokes the grants made
through it. Access tokens already issued are JWTs that live ≤ 5 minutes: resource servers that
must stop at once (``seal:sign``) use introspection (DESIGN.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from idp.acr import LOA_2, LOA_4, rank
from idp.errors import IdpError
from idp.identity import Identities, Organisation, Organisations
from idp.models import access_tokens_table, acting_table, agents_table, users_table
from keys.ids import new_id
from keys.storage import utcnow

ALL = "*"
ADMIN = "admin"
LICENCE_ROLE = "licence"  # sees, downloads and shows the organisation's licences in the wallet (yitong/wallet.py)
REPRESENTATIVE_ROLES = ["legal_representative"]  # what the legal representative acts with (seal/ knows it)
RESERVED_ROLES = frozenset(REPRESENTATIVE_ROLES)
ROLE = re.compile(r"^(\*|[a-z][a-z0-9_:.-]{0,63})$")
MAX_ROLES = 16
PENDING, ACTIVE, DECLINED, REVOKED, EXPIRED = "pending", "active", "declined", "revoked", "expired"
# Acting.proof: how the organisation itself was proven in this sign-in, beyond the person's authorisation.
CERTIFICATE = "certificate"  # its CA certificate (法人证书) signed a challenge (idp/certlogin/certificates.py)
LICENCE = "licence"  # its holder presented the electronic business licence (idp/certlogin/routes.py)
# Both are loa:4 for the organisation (DESIGN.md: "CA certificate (SM2/RSA) login"): the e-business
# licence is the market regulator's certificate-backed credential, presented by a holder its app
# authenticated, who must be the signed-in person.
PROOFS = (CERTIFICATE, LICENCE)


class AgentError(IdpError):
    """A request about agents that cannot be honoured; ``zh``/``en`` say why, ``code`` for audit."""

    def __init__(self, code: str, zh: str, en: str, status: int = 400) -> None:
        super().__init__(en)
        self.code, self.zh, self.en, self.status = code, zh, en, status


@dataclass(frozen=True)
class Agent:
    agent_id: str
    uscc: str
    agent_sub: str
    roles: list[str]
    status: str  # as stored
    expires_at: datetime
    granted_by: str
    granted_at: datetime
    decided_at: datetime | None
    revoked_by: str | None
    revoked_at: datetime | None

    @property
    def state(self) -> str:
        """pending / active / declined / revoked / expired, with expiry applied."""
        if self.status in (PENDING, ACTIVE) and self.expires_at <= utcnow():
            return EXPIRED
        return self.status

    @property
    def is_active(self) -> bool:
        return self.state == ACTIVE

    def as_dict(self) -> dict:
        return {"agent_id": self.agent_id, "uscc": self.uscc, "agent_sub": self.agent_sub, "roles": self.roles,
                "state": self.state, "expires_at": self.expires_at.isoformat(), "granted_by": self.granted_by,
                "granted_at": self.granted_at.isoformat(),
                "decided_at": self.decided_at.isoformat() if self.decided_at else None,
                "revoked_by": self.revoked_by, "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None}


@dataclass(frozen=True)
class Acting:
    """One organisation a person may act for now, and with which roles."""

    organisation: Organisation
    roles: list[str]
    agent_id: str | None  # None: as its legal representative
    proof: str | None = None  # one of PROOFS: the organisation itself was proven in this sign-in

    @property
    def acr(self) -> str:
        return LOA_4 if self.proof in PROOFS else self.organisation.acr

    @property
    def claim(self) -> dict:
        return {"uscc": self.organisation.uscc, "name": self.organisation.name, "roles": list(self.roles),
                "acting_as": True, "acr": self.acr}

    @property
    def may_manage(self) -> bool:
        return self.agent_id is None or ADMIN in self.roles


def _agent(row) -> Agent:
    return Agent(row.agent_id, row.uscc, row.agent_sub, list(row.roles), row.status, row.expires_at, row.granted_by,
                 row.granted_at, row.decided_at, row.revoked_by, row.revoked_at)


def check_roles(values: list[str]) -> list[str]:
    roles = sorted({v.strip() for v in values if v.strip()})
    if not roles:
        raise AgentError("no_roles", "请至少选择一个角色", "Choose at least one role")
    if len(roles) > MAX_ROLES:
        raise AgentError("too_many_roles", f"角色最多 {MAX_ROLES} 个", f"At most {MAX_ROLES} roles")
    for role in roles:
        if role in RESERVED_ROLES:
            raise AgentError("reserved_role", f"角色 {role} 只属于法定代表人", f"The role {role} is the legal "
                             "representative's own and cannot be granted")
        if not ROLE.match(role):
            raise AgentError("bad_role", f"角色名称无效：{role[:64]}",
                             f"Not a role name: {role[:64]} (lower-case letters, digits, _ : . -)")
    return roles


class Agents:
    def __init__(self, engine: Engine, organisations: Organisations, identities: Identities, tokens=None) -> None:
        self.engine = engine
        self.organisations = organisations
        self.identities = identities
        self.tokens = tokens  # idp.oauth.tokens.Tokens: revoking an agent revokes its grants

    # -- reading ---------------------------------------------------------------------------------------
    def get(self, agent_id: str) -> Agent | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(agents_table).where(agents_table.c.agent_id == agent_id)).first()
        return _agent(row) if row else None

    def of_organisation(self, uscc: str) -> list[Agent]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(agents_table).where(agents_table.c.uscc == uscc)
                                .order_by(agents_table.c.granted_at.desc())).all()
        return [_agent(r) for r in rows]

    def of_person(self, sub: str) -> list[Agent]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(agents_table).where(agents_table.c.agent_sub == sub)
                                .order_by(agents_table.c.granted_at.desc())).all()
        return [_agent(r) for r in rows]

    def acting_options(self, sub: str) -> list[Acting]:
        """Every organisation ``sub`` may act for now: as legal representative, then as active agent."""
        options = [Acting(org, list(REPRESENTATIVE_ROLES), None) for org in self.organisations.represented_by(sub)]
        seen = {o.organisation.uscc for o in options}
        agencies = []
        for agent in self.of_person(sub):
            if agent.is_active and agent.uscc not in seen:
                org = self.organisations.get(agent.uscc)
                if org is not None:
                    agencies.append(Acting(org, agent.roles, agent.agent_id))
                    seen.add(agent.uscc)
        return options + sorted(agencies, key=lambda a: a.organisation.name)

    def acting_for(self, sub: str, uscc: str) -> Acting | None:
        return next((a for a in self.acting_options(sub) if a.organisation.uscc == uscc), None)

    def eligible_person(self, login: str) -> str | None:
        """The sub of the real-name person (loa:2+) with this username or phone, else None."""
        login = login.strip()
        if not login or len(login) > 64:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(select(users_table.c.sub, users_table.c.acr).where(
                or_(users_table.c.username == login, users_table.c.phone == login),
                users_table.c.disabled.is_(False))).first()
        if row is None or rank(row.acr) < rank(LOA_2) or self.identities.get(row.sub) is None:
            return None
        return row.sub

    # -- changes ---------------------------------------------------------------------------------------
    def _manager(self, actor: str, uscc: str) -> Acting:
        acting = self.acting_for(actor, uscc)
        if acting is None or not acting.may_manage:
            raise AgentError("not_authorised", "只有该单位的法定代表人或管理员经办人可以管理经办人",
                             "Only the organisation's legal representative or an agent with the admin role "
                             "can manage its agents", 403)
        return acting

    def grant(self, *, actor: str, uscc: str, login: str, roles: list[str], expires_at: datetime) -> Agent:
        manager = self._manager(actor, uscc)
        roles = check_roles(roles)
        now = utcnow()
        if expires_at <= now:
            raise AgentError("bad_expiry", "有效期必须晚于今天", "The expiry must be in the future")
        if manager.agent_id is not None:
            own = self.get(manager.agent_id)
            if expires_at > own.expires_at:
                raise AgentError("expiry_beyond_own", "管理员经办人授权的有效期不能超过其本人的有效期",
                                 "An admin agent cannot grant beyond their own expiry")
        agent_sub = self.eligible_person(login)
        if agent_sub is None:
            raise AgentError("not_eligible", "没有找到已实名认证（二级及以上）的该用户名或手机号用户",
                             "No real-name verified person (loa:2 or higher) has this login name or phone", 422)
        if agent_sub == manager.organisation.legal_representative_sub:
            raise AgentError("is_representative", "法定代表人无需授权为经办人",
                             "The legal representative acts for the organisation without being an agent", 409)
        agent_id = new_id()
        try:
            with self.engine.begin() as conn:
                # An open authorisation past its expiry is closed first, so that it can be granted anew.
                conn.execute(update(agents_table).where(
                    agents_table.c.uscc == uscc, agents_table.c.agent_sub == agent_sub,
                    agents_table.c.status.in_([PENDING, ACTIVE]), agents_table.c.expires_at <= now)
                    .values(status=EXPIRED))
                conn.execute(insert(agents_table).values(
                    agent_id=agent_id, uscc=uscc, agent_sub=agent_sub, roles=roles, status=PENDING,
                    expires_at=expires_at, granted_by=actor, granted_at=now, decided_at=None, revoked_by=None,
                    revoked_at=None))
        except IntegrityError:
            raise AgentError("already_agent", "该用户已是本单位的经办人或已有待接受的授权；请先撤销",
                             "This person already has a pending or active authorisation for this "
                             "organisation; revoke it first", 409) from None
        return self.get(agent_id)

    def decide(self, *, actor: str, agent_id: str, accept: bool) -> Agent:
        """The invited person accepts (→ active) or declines a pending, unexpired authorisation."""
        now = utcnow()
        with self.engine.begin() as conn:
            changed = conn.execute(update(agents_table).where(
                agents_table.c.agent_id == agent_id, agents_table.c.agent_sub == actor,
                agents_table.c.status == PENDING, agents_table.c.expires_at > now)
                .values(status=ACTIVE if accept else DECLINED, decided_at=now)).rowcount
        if not changed:
            raise AgentError("not_pending", "该授权不存在、已处理或已过期", "This invitation does not exist, was "
                             "already answered, or has expired", 409)
        return self.get(agent_id)

    def revoke(self, *, actor: str, agent_id: str, operator: bool = False) -> Agent:
        """The legal representative or an admin agent revokes; an agent may also give up their own;
        an operator (``yitong org revoke-agent``, ``operator=True``) may revoke any."""
        agent = self.get(agent_id)
        if agent is None:
            raise AgentError("unknown_agent", "没有该授权", "No such authorisation", 404)
        if agent.agent_sub != actor and not operator:
            self._manager(actor, agent.uscc)
        now = utcnow()
        with self.engine.begin() as conn:
            changed = conn.execute(update(agents_table).where(
                agents_table.c.agent_id == agent_id, agents_table.c.status.in_([PENDING, ACTIVE]))
                .values(status=REVOKED, revoked_by=actor, revoked_at=now)).rowcount
        if not changed:
            raise AgentError("not_open", "该授权已结束", "This authorisation has already ended", 409)
        self._revoke_grants(agent_id)
        return self.get(agent_id)

    def _revoke_grants(self, agent_id: str) -> None:
        if self.tokens is None:
            return
        with self.engine.connect() as conn:
            grant_ids = conn.execute(select(acting_table.c.grant_id).where(
                acting_table.c.agent_id == agent_id, acting_table.c.grant_id.is_not(None))).scalars().all()
        for grant_id in grant_ids:
            self.tokens.revoke_grant(grant_id)

    # -- acting bound to codes and grants ------------------------------------------------------------------
    def bind_code(self, conn, code_hash: bytes, sub: str, acting: Acting) -> None:
        """In the transaction (``conn``) that stores the code: a code never exists without its choice."""
        conn.execute(insert(acting_table).values(code_hash=code_hash, grant_id=None, sub=sub,
                                                 uscc=acting.organisation.uscc, agent_id=acting.agent_id,
                                                 proof=acting.proof, created_at=utcnow()))

    def bind_grant(self, conn, code_hash: bytes, grant_id: str) -> None:
        """In the transaction (``conn``) that marks the code used and names its grant."""
        conn.execute(update(acting_table).where(acting_table.c.code_hash == code_hash).values(grant_id=grant_id))

    def _binding(self, **where):
        column, value = next(iter(where.items()))
        with self.engine.connect() as conn:
            return conn.execute(select(acting_table).where(acting_table.c[column] == value)).first()

    def binding_of_code(self, code_hash: bytes):
        return self._binding(code_hash=code_hash)

    def binding_of_grant(self, grant_id: str | None):
        return self._binding(grant_id=grant_id) if grant_id else None

    def binding_of_access_token(self, jti: str | None):
        if not jti:
            return None
        with self.engine.connect() as conn:
            grant_id = conn.execute(select(access_tokens_table.c.grant_id).where(
                access_tokens_table.c.jti == jti)).scalar()
        return self.binding_of_grant(grant_id)

    def live_claim(self, binding) -> dict | None:
        """The ``org`` claim of a binding if it still holds now, else None."""
        if binding is None:
            return None
        org = self.organisations.get(binding.uscc)
        if org is None:
            return None
        if binding.agent_id is None:
            return Acting(org, list(REPRESENTATIVE_ROLES), None, binding.proof).claim \
                if org.legal_representative_sub == binding.sub else None
        agent = self.get(binding.agent_id)
        if agent is None or not agent.is_active or agent.agent_sub != binding.sub or agent.uscc != binding.uscc:
            return None
        return Acting(org, agent.roles, agent.agent_id, binding.proof).claim
