"""`yitong operator grant|revoke|list`: the administrator roles (三员分立) the admin API enforces."""

from __future__ import annotations

import getpass

import click

from idp.audit import Audit
from idp.operators import ROLES, OperatorError, Operators
from yitong.cli.common import emit_json, open_home


@click.group()
def operator() -> None:
    """Operator roles: system (clients, keys, settings, connectors, federation, operators),
    security (accounts, organisations, agents, seals, licence types) and audit (the audit
    trail, read only). One role per operator; the first system administrator is made here at
    install, every later grant or revocation names the other system administrator making it."""


def _audit(home, event: str, **fields) -> None:
    Audit(home.engine, home.audit_chain()).record(event, ip="cli", user_agent=f"yitong-cli/{getpass.getuser()}",
                                                  via="cli", **fields)


@operator.command("grant")
@click.argument("sub")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--by", "by", help="The system administrator making the grant (not needed for the first one).")
@click.option("--json", "as_json", is_flag=True)
def operator_grant(sub, role, by, as_json) -> None:
    """Give SUB (a person's sub, or an automation client's id) an administrator role."""
    home = open_home()
    try:
        granted = Operators(home.engine).grant(sub, role, by=by)
    except OperatorError as exc:
        raise click.UsageError(str(exc)) from None
    _audit(home, "operator.granted", sub=by, operator=sub, role=role)
    if as_json:
        emit_json(granted.as_dict())
    else:
        click.echo(f"{sub} is now the {role} administrator")


@operator.command("revoke")
@click.argument("sub")
@click.option("--by", "by", required=True, help="The (other) system administrator revoking it.")
def operator_revoke(sub, by) -> None:
    """Take SUB's administrator role away."""
    home = open_home()
    try:
        revoked = Operators(home.engine).revoke(sub, by=by)
    except OperatorError as exc:
        raise click.UsageError(str(exc)) from None
    _audit(home, "operator.revoked", sub=by, operator=sub, role=revoked.role)
    click.echo(f"{sub} is no longer the {revoked.role} administrator")


@operator.command("list")
@click.option("--json", "as_json", is_flag=True)
def operator_list(as_json) -> None:
    """The operators and their roles."""
    operators = Operators(open_home().engine).list()
    if as_json:
        emit_json([o.as_dict() for o in operators])
        return
    for item in operators:
        click.echo(f"{item.role:9} {item.sub}  granted {item.granted_at.isoformat(timespec='seconds')}"
                   f" by {item.granted_by or '(install)'}")
