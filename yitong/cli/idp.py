"""`yitong user` and `yitong client`: accounts and OAuth clients for operators and tests."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

import click

from idp.accounts.store import AccountError, Accounts
from idp.acr import LEVELS
from idp.audit import Audit
from idp.oauth.clients import AUTH_METHODS, GRANT_TYPES, SUBJECT_TYPES, ClientError, ClientRegistry, build_metadata
from yitong.cli.common import emit_json, open_home


@click.group()
def user() -> None:
    """Accounts of natural persons."""


@user.command("create")
@click.option("--username", help="Login name (letters, digits, _ . -).")
@click.option("--phone", help="Mainland mobile number (also a login name).")
@click.option("--name", help="Display name.")
@click.option("--password-stdin", is_flag=True, required=True,
              help="Read the password from the first line of standard input.")
@click.option("--json", "as_json", is_flag=True, help="Print {sub, username, phone, acr}.")
def user_create(username, phone, name, password_stdin, as_json) -> None:
    """Create an account (assurance level urn:yitong:loa:1 until real-name checks)."""
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise click.UsageError("no password on standard input")
    home = open_home()
    home.keystore()  # the home must be set up (and the master key right) before accounts exist
    try:
        created = Accounts(home.engine).create(username=username, password=password, phone=phone, name=name)
    except AccountError as exc:
        raise click.UsageError(str(exc)) from None
    _audit("user.created", sub=created.sub)
    if as_json:
        emit_json(created.as_dict())
    else:
        click.echo(f"created user {created.username or created.phone} (sub {created.sub})")


@user.command("set-level")
@click.argument("sub")
@click.argument("level", type=click.Choice(list(LEVELS)))
@click.option("--reason", required=True, help="Why (e.g. the in-person window check that proved it); audited.")
def user_set_level(sub, level, reason) -> None:
    """Set a person's assurance level (e.g. loa:4 after an in-person window check); next sign-in on."""
    try:
        Accounts(open_home().engine).set_level(sub, level)
    except AccountError as exc:
        raise click.UsageError(str(exc)) from None
    _audit("user.level_set", sub=sub, acr=level, reason=reason)
    click.echo(f"{sub} is now {level} (from the next sign-in)")


def _registry() -> ClientRegistry:
    home = open_home()
    return ClientRegistry(home.engine, home.keystore().secret("client-secret-pepper"))


def _audit(event: str, **fields) -> None:
    """Operator actions are audited with the OS account that ran the command."""
    home = open_home()
    Audit(home.engine, home.audit_chain()).record(event, ip="cli", user_agent=f"yitong-cli/{getpass.getuser()}",
                                                  **fields)


@click.group()
def client() -> None:
    """OAuth 2.0 / OpenID Connect clients (relying parties and resource servers)."""


def _scopes(values: tuple[str, ...]) -> str:
    return " ".join(s for value in values for s in value.split())


@client.command("create")
@click.option("--name", required=True)
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="Exact redirect URI (repeat).")
@click.option("--post-logout-redirect-uri", "post_logout", multiple=True)
@click.option("--backchannel-logout-uri")
@click.option("--grant", "grants", multiple=True, required=True, type=click.Choice(GRANT_TYPES))
@click.option("--scope", "scopes", multiple=True, help="Scopes (repeat, or space-separated).")
@click.option("--token-endpoint-auth-method", type=click.Choice(AUTH_METHODS))
@click.option("--public", is_flag=True, help="A public client (SPA, mobile app): PKCE, no secret.")
@click.option("--id-token-alg", default="ES256", type=click.Choice(["ES256", "SM2"]), show_default=True)
@click.option("--jwks-file", type=click.Path(exists=True, dir_okay=False),
              help="The client's public keys (JWK Set JSON), for --token-endpoint-auth-method private_key_jwt.")
@click.option("--release", "releases", multiple=True, type=click.Choice(["verified_claims", "id_number"]),
              help="Release verified_claims (real name and proofing evidence, OIDC4IA) and, inside it, the "
                   "ID number to this client (repeat). Without it neither is ever released.")
@click.option("--subject-type", type=click.Choice(SUBJECT_TYPES), default="public", show_default=True,
              help="pairwise: ID tokens and userinfo carry a per-client subject (OIDC Core §8); access tokens "
                   "keep the stable one.")
@click.option("--cas", is_flag=True, help="Its redirect URIs are also CAS service URLs: /cas/login issues them "
                                          "service tickets (CAS 3.0, ticket -> token; README \"CAS\").")
@click.option("--json", "as_json", is_flag=True, help="Print the RFC 7591 client information.")
def client_create(name, redirect_uris, post_logout, backchannel_logout_uri, grants, scopes,
                  token_endpoint_auth_method, public, id_token_alg, jwks_file, releases, subject_type,
                  cas, as_json) -> None:
    """Register a client; its secret is printed once and stored only as a keyed hash."""
    try:
        metadata = build_metadata(
            redirect_uris=list(redirect_uris), grant_types=list(grants), scope=_scopes(scopes),
            token_endpoint_auth_method=token_endpoint_auth_method, public=public,
            post_logout_redirect_uris=list(post_logout), backchannel_logout_uri=backchannel_logout_uri,
            id_token_signed_response_alg=id_token_alg, jwks=_read_jwks(jwks_file), release=list(releases),
            subject_type=subject_type, cas=cas)
        created, secret = _registry().create(name, metadata)
    except ClientError as exc:
        raise click.UsageError(str(exc)) from None
    _audit("client.created", client_id=created.client_id, grant_types=list(grants))
    if as_json:
        emit_json(created.as_dict(secret))
        return
    click.echo(f"client_id:     {created.client_id}")
    if secret:
        click.echo(f"client_secret: {secret}   (shown once: store it now)")


def _read_jwks(path: str | None) -> dict | None:
    if not path:
        return None
    import json
    from pathlib import Path

    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.UsageError(f"{path}: not a JWK Set ({exc})") from None


@client.command("list")
@click.option("--json", "as_json", is_flag=True)
def client_list(as_json) -> None:
    """List clients."""
    clients = _registry().list()
    if as_json:
        emit_json([c.as_dict() for c in clients])
        return
    for c in clients:
        click.echo(f"{c.client_id}  {c.name}  {' '.join(c.grant_types)}  {c.token_endpoint_auth_method}")


@client.command("show")
@click.argument("client_id")
def client_show(client_id) -> None:
    """Show one client's metadata (JSON)."""
    found = _registry().get(client_id)
    if found is None:
        raise click.UsageError(f"no client {client_id!r}")
    emit_json(found.as_dict())


@client.command("update")
@click.argument("client_id")
@click.option("--name")
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="Replaces the redirect URIs.")
@click.option("--scope", "scopes", multiple=True, help="Replaces the scopes.")
@click.option("--release", "releases", multiple=True, type=click.Choice(["verified_claims", "id_number", "none"]),
              help="Replaces the release policy (verified_claims, id_number; 'none' releases nothing).")
@click.option("--subject-type", type=click.Choice(SUBJECT_TYPES),
              help="public or pairwise (changes the sub this client sees for every person).")
@click.option("--cas/--no-cas", default=None, help="Whether its redirect URIs are also CAS service URLs.")
@click.option("--logo", type=click.Path(exists=True, dir_okay=False),
              help="PNG or JPEG (at most 64 KiB, 1024 px a side) shown with its name on sign-in and consent.")
@click.option("--no-logo", is_flag=True, help="Remove its logo.")
@click.option("--json", "as_json", is_flag=True)
def client_update(client_id, name, redirect_uris, scopes, releases, subject_type, cas, logo, no_logo,
                  as_json) -> None:
    """Change a client's name, redirect URIs, scopes, release policy, subject type, CAS use or logo."""
    registry = _registry()
    found = registry.get(client_id)
    if found is None:
        raise click.UsageError(f"no client {client_id!r}")
    meta = found.metadata
    try:
        metadata = build_metadata(
            redirect_uris=list(redirect_uris) or meta["redirect_uris"], grant_types=meta["grant_types"],
            scope=_scopes(scopes) or meta["scope"], token_endpoint_auth_method=meta["token_endpoint_auth_method"],
            public=found.is_public, post_logout_redirect_uris=meta.get("post_logout_redirect_uris", []),
            backchannel_logout_uri=meta.get("backchannel_logout_uri"),
            id_token_signed_response_alg=meta.get("id_token_signed_response_alg", "ES256"),
            jwks=meta.get("jwks"), release=_release(releases, meta),
            subject_type=subject_type or meta.get("subject_type", "public"),
            cas=found.cas if cas is None else cas)
        if logo and no_logo:
            raise ClientError("--logo and --no-logo together")
        if logo or no_logo:
            registry.set_logo(client_id, Path(logo).read_bytes() if logo else None)
        updated = registry.update(client_id, name, metadata)
    except ClientError as exc:
        raise click.UsageError(str(exc)) from None
    _audit("client.updated", client_id=client_id)
    if as_json:
        emit_json(updated.as_dict())
    else:
        click.echo(f"updated {client_id}")


def _release(releases: tuple[str, ...], meta: dict) -> list[str]:
    """--release replaces the policy ('none' clears it); without it the policy is kept."""
    if not releases:
        return list(meta.get("yitong_release", []))
    if "none" in releases:
        if len(releases) > 1:
            raise ClientError("--release none cannot be combined with other releases")
        return []
    return list(releases)


@client.command("rotate-secret")
@click.argument("client_id")
@click.option("--json", "as_json", is_flag=True)
def client_rotate_secret(client_id, as_json) -> None:
    """Issue a new secret (the old one stops working at once)."""
    try:
        secret = _registry().rotate_secret(client_id)
    except ClientError as exc:
        raise click.UsageError(str(exc)) from None
    _audit("client.secret_rotated", client_id=client_id)
    if as_json:
        emit_json({"client_id": client_id, "client_secret": secret})
    else:
        click.echo(f"client_secret: {secret}   (shown once)")


@client.command("delete")
@click.argument("client_id")
def client_delete(client_id) -> None:
    """Delete a client."""
    try:
        _registry().delete(client_id)
    except ClientError as exc:
        raise click.UsageError(str(exc)) from None
    _audit("client.deleted", client_id=client_id)
    click.echo(f"deleted {client_id}")


@click.group()
def audit() -> None:
    """The append-only audit trail (logins, tokens, logouts, administration)."""


@audit.command("tail")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
@click.option("--event", help="Only this event, e.g. login.failure.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def audit_tail(limit: int, event: str | None, as_json: bool) -> None:
    """Print the newest audit events, oldest first."""
    import json

    for item in Audit(open_home().engine).tail(limit, event):
        if as_json:
            click.echo(json.dumps(item.as_dict(), ensure_ascii=False))
        else:
            who = item.sub or "-"
            click.echo(f"{item.at.isoformat(timespec='seconds')} {item.event:22} sub={who} "
                       f"client={item.client_id or '-'} ip={item.ip or '-'} {item.detail or ''}")
