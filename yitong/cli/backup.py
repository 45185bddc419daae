"""`yitong backup --out DIR` and `yitong restore DIR` (yitong/backup.py)."""

from __future__ import annotations

from pathlib import Path

import click

from yitong.cli.common import closed_with_command, emit_json, open_home
from yitong.home import Home
from yitong.settings import Settings


@click.command()
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="A new (or empty) folder for the backup.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest.")
def backup(out: Path, as_json: bool) -> None:
    """Back up the database, the PKI files and a manifest with SHA-256 of each part.

    Consistent while the service runs (pg_dump, or SQLite's online backup). The master key is
    NOT included: keep it apart; `yitong restore` needs it.
    """
    from yitong.backup import backup as run

    manifest = run(open_home(), out)
    if as_json:
        emit_json(manifest)
    else:
        click.echo(f"backed up {len(manifest['parts'])} part(s) to {out} (schema "
                   f"{manifest['database']['alembic_revision']}); the master key is not in it")


@click.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
def restore(folder: Path) -> None:
    """Restore a backup onto an empty database (YITONG_DATABASE_URL) and a fresh YITONG_HOME.

    Needs the backed-up installation's master key (YITONG_MASTER_KEY_FILE or YITONG_MASTER_KEY).
    Every part's SHA-256, the master key and the emptiness of the targets are checked first: a
    refused restore changes nothing. Run `yitong db upgrade` afterwards.
    """
    from yitong.backup import restore as run

    manifest = run(closed_with_command(Home(Settings.from_env())), folder)
    click.echo(f"restored {len(manifest['parts'])} part(s) from {folder} (backup of {manifest['issuer']}, "
               f"{manifest['created_at']}); now run `yitong db upgrade`")
