"""`yitong audit verify|export|checkpoint|archive`: the tamper-evident audit trail (keys/auditchain).

Five chains are kept: the IdP's audit events (idp_audit), the seals' usage records
(seal_usage), the seals' lifecycle events (seal_events: applied, approved, made, suspended,
resumed, revoked, refused operator actions), the licences' history (licence_events: issued,
revoked, expired, superseded, catalogue and sharing-grant changes, refused operator actions) and
their record of uses (licence_uses: showings, views, answered sharing operations). Only yitong/
sees every room's tables, so these commands live here.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from idp.models import audit_table
from keys.auditchain import export_lines, verify_export
from keys.auditchain.archive import archive_and_delete
from keys.clock import utcnow
from licence.models import events_table as licence_events_table
from licence.models import uses_table as licence_uses_table
from seal.models import events_table, usage_table
from yitong.cli.common import emit_json, open_home
from yitong.cli.idp import audit

CHAINS = {"idp_audit": audit_table, "seal_usage": usage_table, "seal_events": events_table,
          "licence_events": licence_events_table, "licence_uses": licence_uses_table}
# A seal's lifecycle events and a licence's history are their record for as long as the seal or
# the licence exists: verified, exported and checkpointed with the others, never archived away by
# the retention period. Uses (sealings, a licence's showings and sharings) are.
ARCHIVED = ("idp_audit", "seal_usage", "licence_uses")
EXIT_BROKEN = 1


class Moment(click.ParamType):
    """A date (2026-06-01, UTC midnight) or an ISO 8601 time (2026-06-01T08:00:00+08:00)."""

    name = "TIME"

    def convert(self, value, param, ctx):
        if isinstance(value, datetime):
            return value
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError:
            self.fail(f"{value!r} is not a date (2026-06-01) or an ISO 8601 time", param, ctx)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)


def _chains(names: tuple[str, ...]):
    return [(name, CHAINS[name]) for name in (names or tuple(CHAINS))]


def _print_reports(reports, as_json: bool) -> None:
    if as_json:
        emit_json({"ok": all(r.ok for r in reports), "chains": [r.as_dict() for r in reports]})
    else:
        for report in reports:
            checkpoint = report.last_checkpoint_at.isoformat(timespec="seconds") if report.last_checkpoint_at else "-"
            state = "ok" if report.ok else "BROKEN"
            click.echo(f"{report.chain}: {state}: {report.records} records linked"
                       f" (positions {report.first_seq or '-'}..{report.last_seq or '-'}), {report.checkpoints}"
                       f" checkpoints time-stamped (latest {checkpoint}), {report.legacy} from before the chain")
            if report.broken:
                click.echo(f"{report.chain}: first broken link: {report.broken.message}")
    if not all(r.ok for r in reports):
        sys.exit(EXIT_BROKEN)


@audit.command("verify")
@click.option("--since", type=Moment(), help="Check records from this time on (trusting the link before it).")
@click.option("--file", "path", type=click.Path(dir_okay=False), help="Check an export file instead of the database.")
@click.option("--chain", "names", multiple=True, type=click.Choice(sorted(CHAINS)), help="Only this chain.")
@click.option("--json", "as_json", is_flag=True)
def audit_verify(since, path, names, as_json) -> None:
    """Recompute every link of the audit chains and check their time-stamped checkpoints.

    Exit 0 when whole; 1 naming the first broken link (an edited, deleted, inserted or
    reordered record); 2 when it cannot run. Needs the home's master key (the chain key is
    wrapped under it), with --file too.
    """
    home = open_home()
    chain = home.audit_chain()
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                reports = verify_export(chain, handle)
        except OSError as exc:
            raise click.UsageError(f"cannot read {path}: {exc.strerror}") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise click.UsageError(f"{path}: {exc}") from None
    else:
        reports = [chain.verify(table, since) for _, table in _chains(names)]
    _print_reports(reports, as_json)


@audit.command("export")
@click.option("--from", "start", type=Moment(), required=True, help="First moment included (UTC date or ISO time).")
@click.option("--to", "end", type=Moment(), required=True, help="First moment excluded.")
@click.option("--out", type=click.Path(dir_okay=False), default="-", show_default=True, help="File (- = stdout).")
@click.option("--chain", "names", multiple=True, type=click.Choice(sorted(CHAINS)), help="Only this chain.")
def audit_export(start, end, out, names) -> None:
    """Export records and the checkpoints among them as JSON lines (check it: audit verify --file)."""
    if end <= start:
        raise click.UsageError("--to must be after --from")
    chain = open_home().audit_chain()
    handle = sys.stdout if out == "-" else _open_new(out)
    try:
        for _, table in _chains(names):
            for line in export_lines(chain, table, start, end):
                handle.write(line + "\n")
    finally:
        if handle is not sys.stdout:
            handle.close()


def _open_new(path: str):
    try:
        return open(path, "x", encoding="utf-8")
    except FileExistsError:
        raise click.UsageError(f"{path} exists; refusing to overwrite an export") from None
    except OSError as exc:
        raise click.UsageError(f"cannot write {path}: {exc.strerror}") from None


@audit.command("checkpoint")
@click.option("--json", "as_json", is_flag=True)
def audit_checkpoint(as_json) -> None:
    """Time-stamp each chain's current state now (the server also does every N events / M minutes)."""
    chain = open_home().audit_chain()
    made = {name: chain.checkpoint_now(table) for name, table in _chains(())}
    if as_json:
        emit_json(made)
        return
    for name, seq in made.items():
        click.echo(f"{name}: " + (f"checkpoint at position {seq}" if seq else "nothing new since the last checkpoint"))


@audit.command("archive")
@click.option("--dir", "directory", type=click.Path(file_okay=False), required=True,
              help="Where the archive exports are written (keep them: they are the records).")
@click.option("--before", type=Moment(), help="Archive records older than this (default: the retention, "
              "YITONG_AUDIT_RETENTION_DAYS, before now; never less than it).")
def audit_archive(directory, before) -> None:
    """Move records older than the retention period into export files, then delete them.

    Each file is written, read back and checked before anything is deleted; the newest record
    of a chain always stays.
    """
    home = open_home()
    limit = utcnow() - timedelta(days=home.settings.audit_retention_days)
    if before is None:
        before = limit
    elif before > limit:
        raise click.UsageError(f"records are kept {home.settings.audit_retention_days} days: --before may be "
                               f"{limit.date().isoformat()} at the latest")
    chain = home.audit_chain()
    for name, table in _chains(ARCHIVED):
        try:
            path, count = archive_and_delete(chain, table, before, Path(directory))
        except OSError as exc:
            raise click.UsageError(f"cannot write the archive in {directory}: {exc.strerror}") from None
        except RuntimeError as exc:
            click.echo(f"yitong: error: {name}: {exc}", err=True)
            sys.exit(EXIT_BROKEN)
        click.echo(f"{name}: " + (f"archived {count} records to {path}" if path else "nothing to archive"))

