"""`yitong home`: which home the commands use, and its public URL."""

from __future__ import annotations

import click

from yitong import public_url
from yitong.cli.common import closed_with_command, emit_json, open_home
from yitong.home import Home
from yitong.settings import Settings, normalise_issuer


@click.group("home")
def home_group() -> None:
    """The home: where the database, master key and PKI files are, and the public URL."""


@home_group.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(as_json: bool) -> None:
    """Say which home every command here uses (YITONG_HOME, else the default) and its public URL."""
    home = open_home()
    settings = home.settings
    data = {"home": str(settings.home), "database": settings.database_url.render_as_string(hide_password=True),
            "public_url": public_url.recorded(home.engine)}
    if as_json:
        emit_json(data)
        return
    click.echo(f"home:        {data['home']}")
    click.echo(f"database:    {data['database']}")
    pending = f"none recorded yet (`yitong db upgrade` records {settings.issuer})"
    click.echo(f"public URL:  {data['public_url'] or pending}")


@home_group.command("set-url")
@click.argument("url")
def set_url(url: str) -> None:
    """Change the public URL: the OIDC issuer and the base of the CRL/OCSP URLs of new certificates.

    Certificates already issued (the CAs' own included) keep naming the old URL for their CRL
    and OCSP for life, so keep the old /pki/ reachable (or redirect it) while they are in use.
    Restart `yitong serve` afterwards; OIDC clients must then use the new issuer.
    """
    new = normalise_issuer(url)
    home = closed_with_command(Home(Settings.from_env()))  # not open_home(): YITONG_ISSUER may name the new URL
    old = public_url.change(home.engine, new)
    if old == new:
        click.echo(f"the public URL is already {new}; nothing changed")
        return
    click.echo(f"public URL: {old or '(none recorded)'} -> {new}")
    if old:
        click.echo(f"Certificates issued before now, the CA certificates included, keep naming {old}/pki for their "
                   f"CRL and OCSP: keep it answering (or redirect it to {new}/pki) while they are in use. Only "
                   f"certificates issued from now on name {new}/pki.")
        click.echo(f"Tokens issued by {old} are no longer accepted: OIDC clients must use "
                   f"{new}/.well-known/openid-configuration. Restart `yitong serve`.")
    if home.settings.issuer_configured and home.settings.issuer != new:
        click.echo(f"warning: YITONG_ISSUER is still {home.settings.issuer}: unset it or set it to {new}, "
                   "or commands will refuse to start", err=True)
