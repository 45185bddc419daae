"""`yitong seal`: the seal registry and PDF sealing for operators and batch use.

Every command takes the esID (6-digit region code + 8-digit serial). Operator actions are
audited in seal_events with the OS account that ran the command.
"""

from __future__ import annotations

import getpass

import click

from seal.image import SEAL_TYPES
from seal.registry import REVOKE_REASONS, SealError, SealRegistry
from yitong.cli.common import emit_json, open_home, read_input, write_output


def _registry() -> SealRegistry:
    home = open_home()
    settings = home.settings
    return SealRegistry(home.engine, home.keystore(), home.pki(), region=settings.seal_region,
                        font=settings.seal_font, audit_chain=home.audit_chain())


def _actor() -> str:
    return f"cli/{getpass.getuser()}"


class _Refused(click.ClickException):
    """A one-line `yitong: error: ...` and exit 2 (bad usage or a request the registry refuses)."""

    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"yitong: error: {self.message}", err=True)


def _fail(exc: Exception) -> click.ClickException:
    return _Refused(str(exc))


def _seal_type(value: str) -> int:
    try:
        code = int(value, 10)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a seal type code") from None
    if code not in SEAL_TYPES:
        raise click.BadParameter(f"unknown seal type {value}; known: "
                                 + ", ".join(f"{c:02d} {label}" for c, (label, _, _) in SEAL_TYPES.items()))
    return code


@click.group()
def seal() -> None:
    """Electronic seals (GB/T 38540): make, list, suspend, resume, revoke, and seal PDFs.

    \b
    Seal type codes: 01 法定名称章, 02 财务专用章, 03 发票专用章, 04 合同专用章,
    05 法定代表人名章, 06 公章, 07 内设机构章, 08 分支机构章, 99 其他.
    """


@seal.command("create")
@click.option("--holder-kind", type=click.Choice(["org", "person"]), required=True)
@click.option("--holder-id", required=True, help="USCC of the organisation, or the person's IdP sub.")
@click.option("--holder-name", required=True, help="Organisation or person name (drawn on the seal).")
@click.option("--type", "seal_type", required=True, help="Seal type code, e.g. 06 (公章) or 04 (合同专用章).")
@click.option("--algorithm", type=click.Choice(["sm2", "p256"]), default="sm2", show_default=True,
              help="p256 for documents that must validate in Adobe Reader.")
@click.option("--name", help="Seal name if other than the holder name.")
@click.option("--days", type=click.IntRange(1, 3650), default=1095, show_default=True,
              help="Validity of the seal and its certificate.")
@click.option("--diameter-mm", type=click.Choice(["40", "42"]), default="40", show_default=True,
              help="Diameter of a round official seal.")
@click.option("--image", "image_path", type=click.Path(dir_okay=False),
              help="An uploaded PNG (transparent background) instead of the drawn standard image.")
@click.option("--reason", help="Why (audited).")
@click.option("--grant-client", "grant_clients", multiple=True, help="Authorise a business client (repeat).")
@click.option("--grant-person", "grant_persons", multiple=True, help="Make a person (sub) a keeper (repeat).")
@click.option("--json", "as_json", is_flag=True,
              help="Print {esid, holder, type, algorithm, status, cert_serial, valid_to}.")
def create(holder_kind, holder_id, holder_name, seal_type, algorithm, name, days, diameter_mm, image_path, reason,
           grant_clients, grant_persons, as_json) -> None:
    """Apply for, approve and make a seal in one step (operators)."""
    code = _seal_type(seal_type)
    registry = _registry()
    image = None
    try:
        if image_path:
            from seal.image import check_uploaded_png

            round_size = (int(diameter_mm), int(diameter_mm))
            size = (20, 20) if holder_kind == "person" else (40, 30) if code == 3 else round_size
            image = check_uploaded_png(read_input(image_path), *size)
        record = registry.create(holder_kind=holder_kind, holder_id=holder_id, holder_name=holder_name,
                                 seal_type=code, algorithm=algorithm, name=name, days=days, image=image,
                                 diameter_mm=int(diameter_mm),
                                 actor=_actor(), reason=reason)
        for client_id in grant_clients:
            registry.grant(record.esid, "client", client_id, actor=_actor())
        for sub in grant_persons:
            registry.grant(record.esid, "person", sub, actor=_actor())
    except SealError as exc:  # ImageError and PdfRefused are SealErrors
        raise _fail(exc) from None
    if as_json:
        emit_json(record.as_cli())
    else:
        click.echo(f"made seal {record.esid} ({SEAL_TYPES[code][0]}, {algorithm}) for {holder_name}; "
                   f"certificate {record.cert_serial}, valid to {record.valid_to:%Y-%m-%d}")


@seal.command("list")
@click.option("--holder-id", help="Only this holder's seals.")
@click.option("--json", "as_json", is_flag=True)
def list_seals(holder_id, as_json) -> None:
    """List seals with their status."""
    records = _registry().list(holder_id=holder_id)
    if as_json:
        emit_json([r.as_cli() for r in records])
        return
    for r in records:
        valid_to = f"{r.valid_to:%Y-%m-%d}" if r.valid_to else "-"
        click.echo(f"{r.esid}  {r.status:<9} {r.algorithm:<4} {r.type:02d} {SEAL_TYPES.get(r.type, ('?',))[0]:<8} "
                   f"{r.holder_kind}:{r.holder_id}  {r.holder_name}  cert {r.cert_serial or '-'}  to {valid_to}")


@seal.command("show")
@click.argument("esid")
@click.option("--json", "as_json", is_flag=True)
def show(esid, as_json) -> None:
    """One seal with its lifecycle events and grants."""
    registry = _registry()
    try:
        record = registry.get(esid)
    except SealError as exc:
        raise _fail(exc) from None
    data = {**record.as_api(), "events": registry.events(record.esid), "grants": registry.grants(record.esid)}
    if as_json:
        emit_json(data)
    else:
        for key, value in data.items():
            click.echo(f"{key}: {value}")


def _lifecycle(verb: str, esid: str, reason: str, as_json: bool, **extra) -> None:
    registry = _registry()
    try:
        record = getattr(registry, verb)(esid, actor=_actor(), reason=reason, **extra)
    except SealError as exc:
        raise _fail(exc) from None
    if as_json:
        emit_json(record.as_cli())
    else:
        click.echo(f"seal {record.esid} is now {record.status}")


@seal.command("approve")
@click.argument("esid")
@click.option("--reason", help="Why (audited).")
@click.option("--json", "as_json", is_flag=True)
def approve(esid, reason, as_json) -> None:
    """Approve an application (from the API) for a seal."""
    _lifecycle("approve", esid, reason, as_json)


@seal.command("make")
@click.argument("esid")
@click.option("--reason", help="Why (audited).")
@click.option("--json", "as_json", is_flag=True)
def make(esid, reason, as_json) -> None:
    """Make an approved seal (key, certificate, image, SESeal); it becomes active."""
    _lifecycle("make", esid, reason, as_json)


@seal.command("suspend")
@click.argument("esid")
@click.option("--reason", required=True, help="Why (audited), e.g. 印章遗失.")
@click.option("--json", "as_json", is_flag=True)
def suspend(esid, reason, as_json) -> None:
    """Suspend a seal (挂失): its certificate goes on hold in CRL and OCSP."""
    _lifecycle("suspend", esid, reason, as_json)


@seal.command("resume")
@click.argument("esid")
@click.option("--reason", required=True)
@click.option("--json", "as_json", is_flag=True)
def resume(esid, reason, as_json) -> None:
    """Resume a suspended seal: the hold is lifted (removeFromCRL)."""
    _lifecycle("resume", esid, reason, as_json)


@seal.command("revoke")
@click.argument("esid")
@click.option("--reason", required=True)
@click.option("--crl-reason", type=click.Choice(REVOKE_REASONS), default="cessationOfOperation", show_default=True)
@click.option("--json", "as_json", is_flag=True)
def revoke(esid, reason, crl_reason, as_json) -> None:
    """Revoke a seal for good: its certificate is revoked."""
    _lifecycle("revoke", esid, reason, as_json, crl_reason=crl_reason)


@seal.command("grant")
@click.argument("esid")
@click.option("--client", "clients", multiple=True, help="Business client id (repeat).")
@click.option("--person", "persons", multiple=True, help="Keeper's IdP sub (repeat).")
def grant(esid, clients, persons) -> None:
    """Authorise business clients and keepers to use a seal."""
    registry = _registry()
    try:
        for client_id in clients:
            registry.grant(esid, "client", client_id, actor=_actor())
        for sub in persons:
            registry.grant(esid, "person", sub, actor=_actor())
    except SealError as exc:
        raise _fail(exc) from None
    click.echo(f"seal {esid}: {len(registry.grants(esid))} grant(s)")


@seal.command("export")
@click.argument("esid")
@click.option("--esl", "esl_path", help="Write the GB/T 38540 SESeal (DER) here.")
@click.option("--png", "png_path", help="Write the seal image (PNG) here.")
@click.option("--svg", "svg_path", help="Write the seal image (SVG) here.")
@click.option("--cert", "cert_path", help="Write the seal's certificate (DER) here (what `yitong verify --payload "
              "--seal-cert` checks a licence's 2D code with).")
def export(esid, esl_path, png_path, svg_path, cert_path=None) -> None:
    """Export a seal's .esl, images and certificate."""
    registry = _registry()
    try:
        if cert_path:
            write_output(cert_path, registry.blob(esid, "cert_der"))
        if esl_path:
            write_output(esl_path, registry.blob(esid, "seseal_der"))
        if png_path:
            write_output(png_path, registry.blob(esid, "image_png"))
        if svg_path:
            write_output(svg_path, registry.blob(esid, "image_svg").encode())
    except SealError as exc:
        raise _fail(exc) from None


@seal.command("sign")
@click.option("--seal", "esid", required=True, help="esID of an active seal.")
@click.option("--in", "in_path", required=True, help="PDF or OFD to seal (- = stdin); the content says which.")
@click.option("--out", "out_path", required=True, help="Sealed document (- = stdout); written whole or not at all.")
@click.option("--page", type=int, default=1, show_default=True, help="Page of the seal (from 1).")
@click.option("--x-mm", type=float, help="Seal centre, mm right of the page's top-left corner.")
@click.option("--y-mm", type=float, help="Seal centre, mm below the page's top-left corner.")
@click.option("--keyword", help="Centre the seal on the first occurrence of this text instead, e.g. （盖章）.")
@click.option("--pages", "pages_spec", default="", help="Also stamp these pages: all, or e.g. 1,3-5.")
@click.option("--riding", is_flag=True, help="Add the riding-seam seal (骑缝章) on every page's right edge.")
@click.option("--level", type=click.Choice(["B-B", "B-T", "B-LT"]), default="B-LT", show_default=True)
@click.option("--pkcs7", is_flag=True, help="SubFilter adbe.pkcs7.detached instead of ETSI.CAdES.detached.")
@click.option("--page-image", "page_image", type=click.Path(dir_okay=False),
              help="OFD: also write the sealed page, stamps drawn, as a PNG here.")
@click.option("--json", "as_json", is_flag=True,
              help="Print {esid, format, field, page, level, sm3_before, sm3_after}.")
def sign(esid, in_path, out_path, page, x_mm, y_mm, keyword, pages_spec, riding, level, pkcs7, page_image,
         as_json) -> None:
    """Seal a PDF or an OFD: a visible GB/T 38540 seal signed with the seal's key.

    PDF: PAdES, B-LT by default. OFD (GB/T 33190 §18): a V4 SES_Signature over Signature.xml with
    an RFC 3161 time-stamp (B-T; B-LT is sealed as B-T, B-B has no time-stamp); SM2 seals only.
    Positions are the seal's centre in millimetres from the page's top-left corner; without
    --x-mm/--y-mm the seal sits at the bottom right (20 mm from the right, 30 mm from the bottom).
    """
    from seal.document import document_format, seal_document
    from seal.pdf import PdfLimits, Placement, parse_page_list
    from seal.registry import sealer_for

    if keyword and (x_mm is not None or y_mm is not None):
        raise _Refused("give --keyword or --x-mm/--y-mm, not both")
    try:
        pages = parse_page_list(pages_spec)
    except ValueError as exc:
        raise _Refused(f"--pages: {exc}") from None
    data = read_input(in_path)
    if page_image and document_format(data) != "ofd":
        raise _Refused("--page-image draws OFD pages; for a PDF use pdftoppm (poppler-utils)")
    registry = _registry()
    settings = open_home().settings
    try:
        sealer = sealer_for(registry, esid, tsa=level != "B-B")
        result = seal_document(sealer, data, Placement(page=page, x_mm=x_mm, y_mm=y_mm, keyword=keyword, pages=pages,
                                                  riding=riding), level=level, pades=not pkcs7,
                          max_bytes=settings.seal_max_bytes, limits=PdfLimits.of(settings))
    except SealError as exc:
        raise _fail(exc) from None
    write_output(out_path, result.document)
    if page_image:
        from ofd.render import render_page

        write_output(page_image, render_page(result.document, result.page - 1, 1240))
    registry.log_use(sealer.esid, caller=_actor(), subject=None, org_uscc=None, sm3_before=result.sm3_before,
                     sm3_after=result.sm3_after, request_id=None, client_ip="cli",
                     detail={"field": result.field_name, "page": result.page, "level": result.level, "riding": riding,
                             "format": result.format})
    summary = {"esid": sealer.esid, "format": result.format, "field": result.field_name, "page": result.page,
               "level": result.level, "sm3_before": result.sm3_before, "sm3_after": result.sm3_after}
    if as_json:
        emit_json(summary)
    elif out_path != "-":
        click.echo(f"sealed {in_path} -> {out_path} with {sealer.esid} ({result.field_name}, page {result.page}, "
                   f"{result.level})")


def run_job(job_id: str) -> dict:
    """JobQueue entry point for batch sealing (seal.jobs.JOB_FUNCTION): runs in the server's
    thread pool, or in `yitong worker` (RQ), with the registry built from the environment."""
    from seal import jobs
    from seal.pdf import PdfLimits

    home = open_home()
    try:
        return jobs.run(_job_registry(home), job_id, max_bytes=home.settings.seal_max_bytes,
                        limits=PdfLimits.of(home.settings))
    finally:
        home.engine.dispose()


def reconcile_jobs(home) -> list[str]:
    """Queue again, or fail, the batch jobs whose queue entries were lost (seal.jobs.reconcile);
    `yitong worker` runs it at start and then every minute."""
    from seal import jobs

    return jobs.reconcile(_job_registry(home), home.runtime.jobs)


def _job_registry(home) -> SealRegistry:
    return SealRegistry(home.engine, home.keystore(), home.pki(), region=home.settings.seal_region,
                        font=home.settings.seal_font, audit_chain=home.audit_chain())
