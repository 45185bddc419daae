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

    Creates YITONG_HOME, the master key (embedded default only) and the initial token-signing
    keys if they are absent; running it again changes nothing.
    """
    home = open_home()
    made = home.initialise()
    click.echo(f"database is at the newest schema ({home.settings.database_url.get_backend_name()})")
    for kid in made:
        click.echo(f"created initial key {kid}")
