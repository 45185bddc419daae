"""`yitong db`: schema migrations and first-time set-up of a home."""

from __future__ import annotations

import click

from yitong.cli.common import open_home


@click.group()
def db() -> None:
    """Database schema (Alembic)."""


@db.command()
def upgrade() -> None:
    """Migrate the database to the newest schema and set the home up.

    Creates YITONG_HOME, the master key (embedded default only), the initial token-signing
    keys and the certificate authorities (sm2-root, sm2-issuing, p256-root, p256-issuing) if
    they are absent; running it again changes nothing.
    """
    home = open_home()
    made = home.initialise()
    click.echo(f"database is at the newest schema ({home.settings.database_url.get_backend_name()})")
    for thing in made:
        click.echo(f"created {thing}")
