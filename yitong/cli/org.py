"""`yitong org`: organisations' agents (经办人) for operators — list them, revoke one at once."""

from __future__ import annotations

import getpass

import click

from idp.agents.store import AgentError, Agents
from idp.audit import Audit
from idp.identity import IdentifierError, Identities, Organisations, check_uscc
from idp.oauth.tokens import Tokens
from yitong.cli.common import emit_json, open_home


@click.group()
def org() -> None:
    """Organisations (legal persons) and their agents."""


def _agents():
    home = open_home()
    keystore = home.keystore()
    organisations = Organisations(home.engine)
    # Only revoke_grant is used (database updates): no signing keys are needed.
    tokens = Tokens(home.engine, None, home.settings.issuer)
    return home, Agents(home.engine, organisations, Identities(home.engine, keystore), tokens)


@org.command("agents")
@click.argument("uscc")
@click.option("--json", "as_json", is_flag=True, help="Print the organisation and its agents as JSON.")
def org_agents(uscc, as_json) -> None:
    """List an organisation's agents (pending, active, expired, declined, revoked)."""
    try:
        code = check_uscc(uscc).code
    except IdentifierError as exc:
        raise click.UsageError(f"{uscc!r} is not a unified social credit code: {exc.en}") from None
    _home, agents = _agents()
    organisation = agents.organisations.get(code)
    if organisation is None:
        raise click.UsageError(f"no registered organisation {code}")
    rows = agents.of_organisation(code)
    if as_json:
        emit_json({"uscc": code, "name": organisation.name,
                   "legal_representative_sub": organisation.legal_representative_sub,
                   "agents": [a.as_dict() for a in rows]})
        return
    click.echo(f"{code} {organisation.name} (legal representative {organisation.legal_representative_sub})")
    for a in rows:
        click.echo(f"  {a.agent_id}  {a.state:8}  {a.agent_sub}  {','.join(a.roles)}  "
                   f"until {a.expires_at:%Y-%m-%d %H:%M} UTC")
    if not rows:
        click.echo("  no agents")


@org.command("revoke-agent")
@click.argument("agent_id")
@click.option("--reason", required=True, help="Why (e.g. the organisation's written request); audited.")
def org_revoke_agent(agent_id, reason) -> None:
    """Revoke an agent's authorisation at once (its grants end; introspection answers inactive)."""
    home, agents = _agents()
    operator = f"operator:{getpass.getuser()}"
    try:
        agent = agents.revoke(actor=operator, agent_id=agent_id, operator=True)
    except AgentError as exc:
        raise click.UsageError(exc.en) from None
    Audit(home.engine, home.audit_chain()).record(
        "agent.revoked", sub=None, ip="cli", user_agent=f"yitong-cli/{getpass.getuser()}",
                              uscc=agent.uscc, agent_sub=agent.agent_sub, agent_id=agent.agent_id, roles=agent.roles,
                              expires_at=agent.expires_at.isoformat(), revoked_by=operator, reason=reason)
    click.echo(f"revoked agent {agent.agent_id} ({agent.agent_sub}) of {agent.uscc}")
