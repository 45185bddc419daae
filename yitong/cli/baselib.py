"""`yitong baselib`: the reference base library (a stand-in for the population and legal-person
libraries and the e-business-licence system) — import records, serve its API on its own port."""

from __future__ import annotations

from pathlib import Path

import click

from yitong import db as yitong_db
from yitong.cli.common import emit_json, open_home
from yitong.home import Home

THREADS = 8


def baselib_key(home: Home) -> bytes:
    """YITONG_BASELIB_KEY(_FILE), else the home's own secret (enough when idp and baselib share a home)."""
    return home.settings.baselib_key or home.keystore().secret("baselib-hmac")


@click.group("baselib")
def baselib() -> None:
    """The reference base library: a stand-in for the real libraries, for tests and demonstrations.

    It holds only the records an operator imports; the IdP's connectors reach it over HTTP with
    HMAC-SM3-signed requests (README.md, "Real name and the base library").
    """


@baselib.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True,
              help="Print {inserted, updated, unchanged, persons, legal_persons, bank_cards, mobiles}.")
def import_(file: str, as_json: bool) -> None:
    """Import persons, legal persons, bank cards and mobiles from a CSV file (UTF-8; idempotent; all or nothing).

    \b
    Header (columns in any order; all but the first three may be omitted):
      kind,id_number,name,legal_representative,legal_representative_id_number,status,card_number,phone
    kind: person | legal_person | bank_card | mobile. id_number: the resident ID (person; a card's
    holder; a mobile's subscriber) or the USCC (legal person). card_number: 12-19 digits (bank_card);
    phone: the mobile number (mobile) or the number reserved with the bank (bank_card).
    status: active (default) | cancelled | deceased (persons) | revoked | cancelled (legal persons)
    | frozen | cancelled (bank cards) | suspended | cancelled (mobiles).
    Any error is reported with its line number and nothing is imported (exit 2).
    """
    from baselib.records import CsvImportError, Records

    try:
        data = Path(file).read_bytes()
    except OSError as exc:
        raise click.UsageError(f"cannot read {file}: {exc.strerror}") from None
    home = open_home()
    yitong_db.check_at_head(home.engine)
    try:
        report = Records(home.engine).import_csv(data)
    except CsvImportError as exc:
        for error in exc.errors:
            click.echo(f"yitong: error: {file}: {error}", err=True)
        raise click.exceptions.Exit(2) from None
    if as_json:
        emit_json(report.as_dict())
    else:
        click.echo(f"{file}: {report.inserted} added, {report.updated} updated, {report.unchanged} unchanged "
                   f"({report.by_kind['person']} persons, {report.by_kind['legal_person']} legal persons, "
                   f"{report.by_kind['bank_card']} bank cards, {report.by_kind['mobile']} mobiles)")


@baselib.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8100, show_default=True, type=click.IntRange(1, 65535))
def serve(host: str, port: int) -> None:
    """Serve the reference base library alone (its API under /baselib/, /healthz for probes).

    Requests must be signed with YITONG_BASELIB_KEY (or the home's own secret when the IdP uses
    the same home). One worker process: nonces are remembered in Redis when YITONG_REDIS_URL is
    set, else in the process.
    """
    from gunicorn.app.base import BaseApplication

    from baselib.web import create_app

    home = open_home()
    yitong_db.check_at_head(home.engine)
    app = create_app(engine=home.engine, key=baselib_key(home), replay=home.runtime.replay_cache("baselib-nonce"))

    class _Gunicorn(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
            self.cfg.set("workers", 1)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", THREADS)
            self.cfg.set("errorlog", "-")
            self.cfg.set("timeout", 60)
            self.cfg.set("proc_name", "yitong-baselib")
            self.cfg.set("control_socket_disable", True)

        def load(self):
            return app

    home.engine.dispose()
    click.echo(f"Yitong reference base library (a stand-in, not real data) on http://{host}:{port}/baselib/",
               err=True)
    _Gunicorn().run()
