"""`yitong verify`: check sealed PDFs (and GB/T 38540 seals) with only a trust bundle.

No database, no configuration, no network unless --online. Exit codes (DESIGN.md): 0 everything
passed; 1 something failed (a corrupt or manipulated file is a failure); 2 bad usage or a file
that cannot be opened; 3 nothing failed but something is indeterminate (e.g. an untrusted root).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from yitong.cli.common import emit_json
from yitong.settings import default_home

EXIT_PASSED, EXIT_FAILED, EXIT_USAGE, EXIT_INDETERMINATE = 0, 1, 2, 3


def _trust_path(trust: str | None) -> Path:
    """--trust, else the bundle of the home every other command uses (YITONG_HOME, else the default
    home, where `make run` keeps it), when there is one."""
    if trust:
        return Path(trust)
    home = os.environ.get("YITONG_HOME")
    if home:
        return Path(home).expanduser() / "pki" / "trust.pem"
    bundle = default_home(os.environ) / "pki" / "trust.pem"
    if bundle.is_file():
        return bundle
    raise click.UsageError("no trust bundle: give --trust trust.pem (the bundle published at /pki/trust.pem), "
                           f"or set YITONG_HOME to use $YITONG_HOME/pki/trust.pem (there is none at {bundle})")


def _quiet_libraries() -> None:
    """pyhanko logs every rejected path with a traceback; the report already says why."""
    if os.environ.get("YITONG_LOG_LEVEL", "").upper() != "DEBUG":
        # asyncio: with --online, certvalidator's aiohttp fetchers leave their client sessions to
        # the end of this short-lived process, and asyncio logs each as "Unclosed client session".
        for name in ("pyhanko", "pyhanko_certvalidator", "asyncio"):
            logging.getLogger(name).setLevel(logging.CRITICAL)


@click.command("verify")
@click.argument("files", nargs=-1)
@click.option("--trust", "trust", metavar="PEM", help="Trust bundle (PEM certificates) [default: "
              "the home's pki/trust.pem: $YITONG_HOME, else the default home].")
@click.option("--json", "as_json", is_flag=True, help="Print the yitong-verify-report/1 JSON document.")
@click.option("--html", "html_dir", metavar="DIR", help="Also write one HTML report per file into DIR.")
@click.option("--online", is_flag=True, help="Fetch CRLs/OCSP named in certificates (default: embedded "
              "evidence only, no network).")
@click.option("--certs", "cert_files", metavar="FILE", multiple=True, help="Intermediate CA certificates (PEM or "
              "DER; repeatable) to build paths with, not anchors: an OFD seal carries only the signer's "
              "certificate (e.g. the server's /pki/intermediates.pem; without --trust, the home's "
              "pki/intermediates.pem is used).")
@click.option("--payload", metavar="TEXT", help="Check a licence's scanned 2D code instead of files (the URL or "
              "the bare payload it holds): its SM2 signature offline with --seal-cert, its certificate against "
              "the trust bundle; --online also asks the issuer's status service.")
@click.option("--seal-cert", "seal_cert", metavar="FILE", help="With --payload: the issuing seal's certificate "
              "(PEM or DER; `yitong seal export ESID`, or from the seal's owner).")
def verify(files: tuple[str, ...], trust: str | None, as_json: bool, html_dir: str | None, online: bool,
           cert_files: tuple[str, ...] = (), payload: str | None = None, seal_cert: str | None = None) -> None:
    """Verify sealed PDFs and OFDs (or GB/T 38540 SES_Signature / SESeal DER files) against a trust bundle.

    The format of each file is decided by its content (an OFD is a zip package), not by its name.

    Exit 0 when everything passed, 1 when anything failed, 2 for bad usage or an unreadable file,
    3 when nothing failed but something is indeterminate.
    """
    from verify import document
    from verify.files import document_kind, verify_bytes
    from verify.render import html, summary
    from verify.report import INDETERMINATE, TOTAL_FAILED
    from verify.trust import TrustBundle, TrustError

    _quiet_libraries()
    path = _trust_path(trust)
    try:
        bundle = TrustBundle.from_file(path)
    except TrustError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"trust bundle: {path} ({len(bundle.certificates)} anchor(s))", err=True)
    intermediates = []
    beside = path.with_name("intermediates.pem")
    if not trust and beside.is_file():  # the home's own issuing CAs, written with its trust.pem
        try:
            intermediates.extend(TrustBundle.from_file(beside).certificates)
        except TrustError:
            pass  # none yet (a home without issuing CAs): the file is empty
        else:
            click.echo(f"intermediate CAs: {beside} ({len(intermediates)})", err=True)
    for cert_file in cert_files:
        try:
            intermediates.extend(TrustBundle.from_file(cert_file).certificates)
        except TrustError as exc:
            raise click.UsageError(f"--certs {cert_file}: {exc}") from None
    if payload is not None:
        if files:
            raise click.UsageError("give either FILES or --payload, not both")
        _check_code(payload, bundle, seal_cert, intermediates, online, as_json)
    if not files:
        raise click.UsageError("give FILES to verify, or --payload TEXT")
    inputs: list[tuple[str, bytes]] = []
    for name in files:
        try:
            inputs.append((name, Path(name).read_bytes()))
        except OSError as exc:
            raise click.UsageError(f"cannot open {name}: {exc.strerror or exc}") from None
    for name, data in inputs:
        if document_kind(data) is None:
            raise click.UsageError(f"{name} is not a PDF, an OFD or a GB/T 38540 seal file (decided by its "
                                   f"content)")
    reports = [verify_bytes(data, bundle, name=name, online=online, certs=intermediates) for name, data in inputs]
    if html_dir:
        target = Path(html_dir)
        try:
            target.mkdir(parents=True, exist_ok=True)
            used: set[str] = set()
            for (name, data), report in zip(inputs, reports, strict=True):
                stem, number = Path(name).name, 1
                while f"{stem}.html" in used:  # a.pdf from two folders: a.pdf.html, a.pdf-2.html
                    number += 1
                    stem = f"{Path(name).name}-{number}"
                used.add(f"{stem}.html")
                out = target / f"{stem}.html"
                out.write_text(html([report], {report.file: data}), encoding="utf-8")
                click.echo(f"wrote {out}", err=True)
        except OSError as exc:
            raise click.UsageError(f"cannot write HTML reports to {html_dir}: {exc.strerror or exc}") from None
    if as_json:
        emit_json(document(reports))
    else:
        for report in reports:
            click.echo(summary(report))
    indications = [report.indication[0] for report in reports]
    code = (EXIT_FAILED if TOTAL_FAILED in indications else
            EXIT_INDETERMINATE if INDETERMINATE in indications else EXIT_PASSED)
    sys.stdout.flush()
    raise click.exceptions.Exit(code)


def _check_code(text: str, bundle, seal_cert: str | None, intermediates: list, online: bool, as_json: bool) -> None:
    """``--payload``: a licence's 2D code (verify/payload.py); exit 0 valid, 1 a negative answer, 3 undecided."""
    from verify.licence import fetch_status
    from verify.payload import check_payload
    from verify.trust import TrustBundle, TrustError

    if seal_cert is None:
        raise click.UsageError("--payload needs --seal-cert FILE: the certificate of the seal that signed the code "
                               "(`yitong seal export ESID`, or from the issuer)")
    try:
        [certificate] = TrustBundle.from_file(seal_cert).certificates[:1] or [None]
    except (TrustError, ValueError) as exc:
        raise click.UsageError(f"--seal-cert {seal_cert}: {exc}") from None
    status_lookup = None
    issuer = text.strip().split("/licences/v?", 1)[0] if "/licences/v?" in text else None
    if online:
        def status_lookup(licence_id: str, _url):  # the issuer's public status endpoint (licence/payload.py)
            return fetch_status(licence_id, f"{issuer}/licences/api/v1/licences/{licence_id}/status" if issuer
                                else None)
    answer = check_payload(text, bundle, certificate=lambda esid: certificate.dump() if certificate else None,
                           status_lookup=status_lookup, certs=intermediates)
    if as_json:
        emit_json({"schema": "yitong-licence-code/1", **answer})
    else:
        licence = answer["licence"] or {}
        click.echo(f"{answer['verdict'].upper()}: {answer['reason']}")
        if licence:
            click.echo(f"  licence {licence['licence_id']} (check character {licence['check_character']}), type "
                       f"{licence['type']}, holder {licence['holder']}, valid {licence['validity']['from']} to "
                       f"{licence['validity']['to'] or 'no end date'}, data digest {licence['data_digest']}")
        click.echo(f"  status: {answer['status'] or answer.get('status_note', '')}")
    sys.stdout.flush()
    verdict = answer["verdict"]
    raise click.exceptions.Exit(EXIT_PASSED if verdict == "valid" else
                                EXIT_INDETERMINATE if verdict == "indeterminate" else EXIT_FAILED)
