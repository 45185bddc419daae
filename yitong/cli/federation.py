"""`yitong federation`: upstream OpenID providers people may sign in with (the national
government-service platform), linked to accounts only by verified ID number (idp/federation)."""

from __future__ import annotations

import sys

import click

from idp.acr import LEVELS
from idp.federation import DEFAULT_CLAIMS, UpstreamError, Upstreams
from yitong.cli.common import emit_json, open_home
from yitong.cli.idp import _audit


def _upstreams() -> Upstreams:
    home = open_home()
    return Upstreams(home.engine, home.keystore())


def _pairs(values: tuple[str, ...], what: str) -> dict:
    out = {}
    for value in values:
        key, sep, mapped = value.partition("=")
        if not sep or not key or not mapped:
            raise click.UsageError(f"{what} takes KEY=VALUE; got {value!r}")
        out[key] = mapped
    return out


@click.group()
def federation() -> None:
    """Upstream identity providers (e.g. 国家政务服务平台) for inbound sign-in."""


@federation.command("add")
@click.argument("name")
@click.option("--label", default="国家政务服务平台", show_default=True,
              help="Shown on the sign-in page: 使用<label>账号登录.")
@click.option("--issuer", required=True, help="The upstream's issuer (discovery at ISSUER/.well-known/...).")
@click.option("--client-id", required=True, help="Our client_id registered at the upstream.")
@click.option("--client-secret-stdin", is_flag=True, required=True,
              help="Read our client secret at the upstream from the first line of standard input.")
@click.option("--scope", default="openid profile verified_claims", show_default=True)
@click.option("--claim", "claims", multiple=True, metavar="KIND=PATH",
              help="Where the upstream puts id_number, name or level (dotted path; repeat). Defaults: "
                   + ", ".join(f"{k}={v}" for k, v in DEFAULT_CLAIMS.items()))
@click.option("--level-map", "level_map", multiple=True, metavar="UPSTREAM=OURS",
              help="Map an upstream level value onto urn:yitong:loa:N (repeat). Default: the same urn:yitong:loa:N.")
@click.option("--max-level", default=LEVELS[1], show_default=True, type=click.Choice(LEVELS[1:]),
              help="The highest level a sign-in through this upstream gives.")
@click.option("--trust-framework", help="verified_claims trust_framework of identities it proves "
                                        "(default federation:NAME).")
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False), help="CA certificates for https.")
@click.option("--json", "as_json", is_flag=True)
def add(name, label, issuer, client_id, client_secret_stdin, scope, claims, level_map, max_level, trust_framework,
        ca_file, as_json) -> None:
    """Configure an upstream; register ISSUER/login/federation/callback of ours as its redirect URI."""
    secret = sys.stdin.readline().rstrip("\r\n")
    if not secret:
        raise click.UsageError("no client secret on standard input")
    home = open_home()
    try:
        upstream = Upstreams(home.engine, home.keystore()).add(
            name=name, label=label, issuer=issuer, client_id=client_id, client_secret=secret, scope=scope,
            claims=_pairs(claims, "--claim"), level_map=_pairs(level_map, "--level-map") or None, max_acr=max_level,
            trust_framework=trust_framework, ca_file=ca_file)
    except UpstreamError as exc:
        raise click.UsageError(str(exc)) from None
    _audit("federation.upstream_added", upstream=name, issuer=upstream.issuer, max_acr=max_level)
    redirect_uri = f"{home.settings.issuer}/login/federation/callback"
    if as_json:
        emit_json({**upstream.as_dict(), "redirect_uri": redirect_uri})
    else:
        click.echo(f"added upstream {name} ({upstream.issuer}); register this redirect URI there: {redirect_uri}")


@federation.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_(as_json) -> None:
    """List the upstreams (never their secrets)."""
    upstreams = _upstreams().list()
    if as_json:
        emit_json([u.as_dict() for u in upstreams])
        return
    for u in upstreams:
        click.echo(f"{u.name}  {u.issuer}  max {u.max_acr}  {u.label}")


@federation.command("remove")
@click.argument("name")
def remove(name) -> None:
    """Remove an upstream (accounts it created stay; they sign in by other means)."""
    try:
        _upstreams().remove(name)
    except UpstreamError as exc:
        raise click.UsageError(str(exc)) from None
    _audit("federation.upstream_removed", upstream=name)
    click.echo(f"removed {name}")
