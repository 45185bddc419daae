"""`yitong keys`: the keystore (list, generate, rotate, rewrap)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click

from keys.asymmetric import ALGORITHMS
from keys.keystore import PURPOSES, MasterKey, MasterKeyError
from yitong.cli.common import Duration, emit_json, open_home


@click.group("keys")
def keys_group() -> None:
    """Keys in the keystore (private keys are only ever stored wrapped by the master key)."""


@keys_group.command("list")
@click.option("--purpose", type=click.Choice(list(PURPOSES)), help="Only keys of this purpose.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_keys(purpose: str | None, as_json: bool) -> None:
    """List keys and their states (pending, active, retiring, retired)."""
    records = open_home().keystore().list(purpose=purpose)
    if as_json:
        emit_json([r.as_dict() for r in records])
        return
    if not records:
        click.echo("no keys")
        return
    click.echo(f"{'KID':24} {'ALG':8} {'PURPOSE':11} {'STATE':9} {'OWNER':20} ACTIVE FROM")
    for r in records:
        since = r.activated_at or r.activate_at
        click.echo(f"{r.kid:24} {r.algorithm:8} {r.purpose:11} {r.state:9} {(r.owner or '-'):20} "
                   f"{since.isoformat(timespec='seconds') if since else '-'}")


@keys_group.command("generate")
@click.option("--purpose", required=True, type=click.Choice(list(PURPOSES)))
@click.option("--algorithm", required=True, type=click.Choice(list(ALGORITHMS)))
@click.option("--owner", help="Who the key belongs to (a CA name, a seal esID, ...).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def generate(purpose: str, algorithm: str, owner: str | None, as_json: bool) -> None:
    """Generate a new active key (the previous active key of the same kind starts retiring)."""
    home = open_home()
    record = home.keystore().generate(purpose, algorithm, owner)
    _changed(home)
    if as_json:
        emit_json(record.as_dict())
    else:
        click.echo(f"generated {record.algorithm} {record.purpose} key {record.kid} ({record.state})")


@keys_group.command("rotate")
@click.option("--purpose", required=True, type=click.Choice(list(PURPOSES)))
@click.option("--activate-after", type=Duration(), default="24h", show_default=True,
              help="How long the successor is published as pending before it signs (e.g. 10m, 24h, 7d).")
@click.option("--algorithm", type=click.Choice(list(ALGORITHMS)), help="Only the key of this algorithm.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def rotate(purpose: str, activate_after: timedelta, algorithm: str | None, as_json: bool) -> None:
    """Publish a pending successor for each active key of PURPOSE.

    Verifiers fetch the pending key from the JWKS before it signs; when it activates, the old
    key becomes retiring (still published) and later retired. CA and seal keys are refused:
    they change through PKI rollover and seal re-making.
    """
    home = open_home()
    records = home.keystore().rotate(purpose, activate_after=activate_after, algorithm=algorithm)
    _changed(home)
    if as_json:
        emit_json([r.as_dict() for r in records])
        return
    for r in records:
        when = r.activate_at.isoformat(timespec="seconds") if r.activate_at else "now"
        click.echo(f"{r.algorithm} {r.purpose} key {r.kid} is {r.state}; it signs from {when}")


def _changed(home) -> None:
    """Tell the running hosts (idp/oauth/tokens.py SigningKeys) to read the keystore again now
    rather than within their minute; without Redis there is nobody to tell."""
    stamp = home.runtime.change_stamp("keys")
    if stamp is None:
        return
    try:
        stamp.bump()
    except Exception as exc:
        click.echo(f"warning: the running hosts were not told ({type(exc).__name__}); they see the change "
                   "within a minute", err=True)


@keys_group.command("rewrap")
@click.option("--new-master-key-file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The new master key (32 hex digits). Created (mode 0600) if it does not exist.")
def rewrap(new_master_key_file: Path) -> None:
    """Re-wrap every private key under a new master key, in one transaction.

    On any failure nothing changes. On success, point YITONG_MASTER_KEY_FILE at the new file
    before the next start: the old key no longer opens the keystore.
    """
    home = open_home()
    store = home.keystore()
    created = False
    if not new_master_key_file.exists():
        MasterKey.generate().write_new_file(new_master_key_file)
        created = True
    try:
        new_master = MasterKey.from_file(new_master_key_file)
    except MasterKeyError as exc:
        raise click.UsageError(str(exc)) from None
    if new_master.check_value == store.custody.master.check_value:
        raise click.UsageError("the new master key is the current one; nothing to do")
    try:
        count = store.rewrap(new_master)
    except BaseException:
        if created:
            new_master_key_file.unlink()
        raise
    if created:
        click.echo(f"created new master key {new_master_key_file} (mode 0600)")
    click.echo(f"re-wrapped {count} key(s) under the new master key")
    click.echo(f"now set YITONG_MASTER_KEY_FILE={new_master_key_file.resolve()} and restart; "
               "keep the old key until you have checked the service starts")
