"""`yitong licence`: the licence catalogue, issuance, the library and its lifecycle, batch import,
legal sharing grants.

Operator actions are audited in licence_events with the OS account that ran the command, chained
like every licence record (the home's audit chain: `yitong audit verify --chain licence_events`).
"""

from __future__ import annotations

import getpass
import json

import click

from idp.oauth.clients import ClientRegistry
from licence.batch import import_rows
from licence.catalogue import Catalogue, CatalogueError, LicenceType
from licence.data import DataInvalid
from licence.issuers import IssuerClients
from licence.library import IssueRequest, LicenceError, LicenceLibrary
from licence.sharing import ShareGrants
from seal.registry import SealRegistry
from yitong.cli.common import emit_json, open_home, read_input, write_output


class _Refused(click.ClickException):
    """A one-line `yitong: error: ...` and exit 2 (bad usage or a request the library refuses)."""

    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"yitong: error: {self.message}", err=True)


def _actor() -> str:
    return f"cli/{getpass.getuser()}"


def _library() -> LicenceLibrary:
    home = open_home()
    settings = home.settings
    seals = SealRegistry(home.engine, home.keystore(), home.pki(), region=settings.seal_region,
                         font=settings.seal_font, audit_chain=home.audit_chain())
    return LicenceLibrary(home.engine, seals, issuer=settings.issuer)


def _catalogue() -> Catalogue:
    """The catalogue, with the home's audit chain to record its changes through."""
    home = open_home()
    return Catalogue(home.engine, home.audit_chain())


def _json_file(path: str):
    try:
        return json.loads(read_input(path))
    except (ValueError, UnicodeDecodeError) as exc:
        raise _Refused(f"{path} is not JSON ({exc})") from None


def _refusal(exc: Exception) -> _Refused:
    if isinstance(exc, DataInvalid):
        return _Refused("the licence data is invalid: " + "; ".join(f"{k}: {v}" for k, v in exc.errors.items()))
    return _Refused(str(exc))


@click.group()
def licence() -> None:
    """Electronic licences (电子证照, GB/T 36901-36906): catalogue, issuance, library, batch import."""


# -- catalogue ---------------------------------------------------------------------------------------------
@licence.group("type")
def type_group() -> None:
    """The licence catalogue (证照目录): licence types, their data items and face templates."""


def _type_line(kind: LicenceType) -> str:
    return f"{kind.code}  {kind.name}  {kind.authority_name}  holder={kind.holder_kind}  seal={kind.esid or '-'}"


@type_group.command("add")
@click.argument("definition", metavar="FILE")
@click.option("--reason", help="Why (audited).")
@click.option("--json", "as_json", is_flag=True, help="Print the type as JSON.")
def type_add(definition: str, reason: str | None, as_json: bool) -> None:
    """Add a licence type from a JSON FILE (- for stdin); see licence/samples/*.json for the form."""
    try:
        kind = _catalogue().add(_json_file(definition), actor=_actor(), reason=reason)
    except CatalogueError as exc:
        raise _refusal(exc) from None
    emit_json(kind.as_dict()) if as_json else click.echo(f"added {_type_line(kind)}")


@type_group.command("update")
@click.argument("definition", metavar="FILE")
@click.option("--reason", help="Why (audited).")
@click.option("--json", "as_json", is_flag=True, help="Print the type as JSON.")
def type_update(definition: str, reason: str | None, as_json: bool) -> None:
    """Replace a licence type's definition (the code in FILE names it)."""
    try:
        kind = _catalogue().update(_json_file(definition), actor=_actor(), reason=reason)
    except CatalogueError as exc:
        raise _refusal(exc) from None
    emit_json(kind.as_dict()) if as_json else click.echo(f"updated {_type_line(kind)}")


@type_group.command("import")
@click.argument("catalogue_file", metavar="FILE")
@click.option("--json", "as_json", is_flag=True)
def type_import(catalogue_file: str, as_json: bool) -> None:
    """Import a catalogue file: a JSON list of licence types, each added or updated (all checked first)."""
    try:
        done = _catalogue().import_file(_json_file(catalogue_file), actor=_actor())
    except CatalogueError as exc:
        raise _refusal(exc) from None
    if as_json:
        emit_json([{"code": code, "result": result} for code, result in done])
    else:
        for code, result in done:
            click.echo(f"{result} {code}")


@type_group.command("list")
@click.option("--authority", help="Only this issuing authority's types (USCC).")
@click.option("--json", "as_json", is_flag=True)
def type_list(authority: str | None, as_json: bool) -> None:
    """List licence types."""
    kinds = Catalogue(open_home().engine).list(authority)
    if as_json:
        emit_json([k.as_dict() for k in kinds])
    else:
        for kind in kinds:
            click.echo(_type_line(kind))


@type_group.command("show")
@click.argument("code")
@click.option("--json", "as_json", is_flag=True)
def type_show(code: str, as_json: bool) -> None:
    """Show one licence type with its data items."""
    try:
        kind = Catalogue(open_home().engine).get(code)
    except CatalogueError as exc:
        raise _refusal(exc) from None
    if as_json:
        emit_json(kind.as_dict())
        return
    click.echo(_type_line(kind))
    validity = f"{kind.validity_years} years" if kind.validity_years else "long-term"
    click.echo(f"  {kind.name_en}; authority {kind.authority_uscc} ({kind.authority_region}); validity {validity}")
    for item in kind.items:
        flags = [f for f, on in (("required", item.required), ("on face", item.on_face),
                                 ("sensitive", item.sensitive)) if on]
        click.echo(f"  {item.name:<24} {item.label}  {item.type}  {', '.join(flags)}")


# -- issuance and the library ----------------------------------------------------------------------------
@licence.command("issue")
@click.option("--type", "type_code", required=True, help="Licence type code.")
@click.option("--holder-id", required=True, help="Resident ID number (persons) or USCC (organisations).")
@click.option("--holder-name", required=True)
@click.option("--data", "data_path", required=True, help="JSON file (- for stdin) with the type's data items.")
@click.option("--valid-from", help="YYYY-MM-DD (default today).")
@click.option("--valid-to", help="YYYY-MM-DD (default from the type's validity rule).")
@click.option("--format", "fmt", type=click.Choice(["pdf", "ofd"]), default="pdf", show_default=True)
@click.option("--out", required=True, help="Where to write the sealed licence file (- for stdout).")
@click.option("--reason", help="Why (audited).")
@click.option("--json", "as_json", is_flag=True)
def issue(type_code, holder_id, holder_name, data_path, valid_from, valid_to, fmt, out, reason, as_json) -> None:
    """Issue a licence: checked against its type, rendered, sealed by the authority's seal, stored."""
    if out == "-" and as_json:
        raise click.UsageError("--out - writes the licence to stdout; --json cannot share it")
    library = _library()
    request = IssueRequest(type_code, holder_id, holder_name, _json_file(data_path), valid_from, valid_to, fmt)
    try:
        issued = library.issue(request, actor=_actor(), reason=reason)
    except (LicenceError, DataInvalid) as exc:
        raise _refusal(exc) from None
    write_output(out, library.file(issued.licence_id)[1])
    if as_json:
        emit_json(issued.summary())
    elif out != "-":
        click.echo(f"issued {issued.licence_id} ({issued.number}) → {out}")


@licence.command("show")
@click.argument("licence_id")
@click.option("--out", help="Also write the licence file here.")
@click.option("--json", "as_json", is_flag=True)
def show(licence_id: str, out: str | None, as_json: bool) -> None:
    """Show a licence with its data and history."""
    library = _library()
    try:
        found, data = library.file(licence_id)
    except LicenceError as exc:
        raise _refusal(exc) from None
    if out:
        write_output(out, data)
    details = found.details() | {"events": library.events(licence_id)}
    if as_json:
        emit_json(details)
        return
    for key in ("licence_id", "type", "number", "status", "valid_from", "valid_to", "version", "sha256",
                "supersedes", "superseded_by"):
        click.echo(f"{key}: {details[key]}")
    click.echo(f"holder: {found.holder_name} ({details['holder']['id']})")
    for event in details["events"]:
        click.echo(f"  {event['at']} {event['event']} by {event['actor']}: {event['reason'] or ''}")


@licence.command("list")
@click.option("--type", "type_code")
@click.option("--holder-id")
@click.option("--status", type=click.Choice(["valid", "revoked", "expired", "superseded"]))
@click.option("--limit", type=click.IntRange(1, 10000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def list_licences(type_code, holder_id, status, limit, as_json) -> None:
    """List licences, newest first."""
    found = _library().list(type_code=type_code, holder_id=holder_id, status=status, limit=limit)
    if as_json:
        emit_json([f.summary() for f in found])
        return
    for f in found:
        click.echo(f"{f.licence_id}  {f.status:<10} {f.holder_name}  {f.valid_from} – {f.valid_to or '长期'}")


@licence.command("revoke")
@click.argument("licence_id")
@click.option("--reason", required=True, help="Why (吊销/注销; audited, required).")
@click.option("--json", "as_json", is_flag=True)
def revoke(licence_id: str, reason: str, as_json: bool) -> None:
    """Revoke a valid licence (吊销/注销)."""
    try:
        found = _library().revoke(licence_id, actor=_actor(), reason=reason)
    except LicenceError as exc:
        raise _refusal(exc) from None
    emit_json(found.summary()) if as_json else click.echo(f"{found.licence_id} is {found.status}")


@licence.command("supersede")
@click.argument("licence_id")
@click.option("--data", "data_path", required=True, help="JSON file with the new version's data items.")
@click.option("--holder-name", help="A new holder name (default the current one).")
@click.option("--reason", required=True, help="What changed (audited, required).")
@click.option("--out", help="Write the new version's file here.")
@click.option("--json", "as_json", is_flag=True)
def supersede(licence_id, data_path, holder_name, reason, out, as_json) -> None:
    """Issue the next version of a licence with changed data; the old one becomes superseded."""
    library = _library()
    try:
        old = library.get(licence_id)
        request = IssueRequest(old.type_code, old.holder_id, holder_name or old.holder_name,
                               _json_file(data_path), old.valid_from.isoformat(),
                               old.valid_to.isoformat() if old.valid_to else None, old.format)
        new = library.supersede(licence_id, request, actor=_actor(), reason=reason)
    except (LicenceError, DataInvalid) as exc:
        raise _refusal(exc) from None
    if out:
        write_output(out, library.file(new.licence_id)[1])
    emit_json(new.summary()) if as_json else click.echo(f"{licence_id} superseded by {new.licence_id}")


@licence.command("import")
@click.argument("path", metavar="FILE")
@click.option("--type", "type_code", required=True, help="Licence type of every row.")
@click.option("--format", "fmt", type=click.Choice(["pdf", "ofd"]), default="pdf", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the report (counts and row errors) as JSON.")
def import_file(path: str, type_code: str, fmt: str, as_json: bool) -> None:
    """Digitise existing licences from CSV (header line) or JSON lines: one licence per row.

    Each row needs row_key (its own stable key: re-running never issues it twice), holder_id,
    holder_name, optional valid_from/valid_to, and the type's data items. Rows that fail are
    reported with their line and never stop the others; the exit status is 1 if any failed.
    """
    data = read_input(path)
    library = _library()
    try:
        library.catalogue.get(type_code)
    except CatalogueError as exc:
        raise _refusal(exc) from None
    rows = max(0, data.count(b"\n") - (0 if data.lstrip().startswith(b"{") else 1)) or None
    with click.progressbar(length=rows, label="importing", file=click.get_text_stream("stderr"),
                           show_pos=True) as bar:
        report = import_rows(library, type_code, data, name=path, actor=_actor(), fmt=fmt, progress=bar.update)
    if as_json:
        emit_json(report.as_dict())
    else:
        click.echo(f"{report.total} rows: {report.issued} issued, {report.existing} already imported, "
                   f"{report.failed} failed")
        for error in report.errors:
            problems = "; ".join(f"{k}: {v}" for k, v in error["errors"].items())
            click.echo(f"  line {error['line']}: {problems}")
    if report.failed:
        raise click.exceptions.Exit(1)


# -- issuing clients -------------------------------------------------------------------------------------
@licence.group("client")
def client_group() -> None:
    """Business systems allowed to issue through the API, each for its own authority only."""


@client_group.command("allow")
@click.argument("client_id")
@click.option("--authority", required=True, help="The issuing authority's USCC whose types it may issue.")
def client_allow(client_id: str, authority: str) -> None:
    """Let CLIENT_ID issue the licence types of AUTHORITY (it also needs the licence:issue scope)."""
    try:
        IssuerClients(open_home().engine).allow(client_id, authority, actor=_actor())
    except LicenceError as exc:
        raise _refusal(exc) from None
    click.echo(f"client {client_id} may issue for {authority}")


@client_group.command("list")
@click.option("--json", "as_json", is_flag=True)
def client_list(as_json: bool) -> None:
    """List the clients allowed to issue, with their authority."""
    pairs = IssuerClients(open_home().engine).list()
    if as_json:
        emit_json([{"client_id": c, "authority": a} for c, a in pairs])
    else:
        for client_id, authority in pairs:
            click.echo(f"{client_id}  {authority}")


# -- legal sharing grants --------------------------------------------------------------------------------
@licence.group("share-grant")
def share_grant_group() -> None:
    """Legal sharing grants: a client may read holders' licences of these types for this purpose
    (with its own token, scope licence:share), without asking the holder (licence/sharing.py)."""


def _grant_line(grant) -> str:
    sensitive = "sensitive" if grant.sensitive else "no-sensitive"
    status = "revoked" if grant.revoked_at else "active"
    return f"{grant.grant_id}  {status}  {grant.client_id}  {','.join(grant.type_codes)}  {sensitive}  {grant.purpose}"


def _emit_grants(grants, as_json: bool, many: bool = False) -> None:
    if as_json:
        emit_json([g.as_dict() for g in grants] if many else grants[0].as_dict())
    else:
        for grant in grants:
            click.echo(_grant_line(grant))


@share_grant_group.command("add")
@click.option("--client", "client_id", required=True, help="The business client (it also needs the licence:share "
                                                           "scope and the client_credentials grant).")
@click.option("--type", "type_codes", required=True, multiple=True, help="A licence type code (repeat for more).")
@click.option("--purpose", required=True, help="The purpose the client must name on every request.")
@click.option("--sensitive", is_flag=True, help="Release the items the catalogue marks sensitive too.")
@click.option("--basis", help="The law, regulation or agreement the grant rests on (recorded).")
@click.option("--json", "as_json", is_flag=True)
def share_grant_add(client_id, type_codes, purpose, sensitive, basis, as_json) -> None:
    """Let a client read licences of these types for this purpose."""
    home = open_home()
    if ClientRegistry(home.engine, home.keystore().secret("client-secret-pepper")).get(client_id) is None:
        raise _Refused(f"no client {client_id} (yitong client create ... --scope licence:share)")
    try:
        grant = ShareGrants(home.engine, home.audit_chain()).add(
            client_id, list(type_codes), purpose, sensitive=sensitive, basis=basis, actor=_actor(),
            catalogue=Catalogue(home.engine))
    except LicenceError as exc:
        raise _refusal(exc) from None
    _emit_grants([grant], as_json)


@share_grant_group.command("list")
@click.option("--client", "client_id", help="Only this client's grants.")
@click.option("--active", is_flag=True, help="Only grants not revoked.")
@click.option("--json", "as_json", is_flag=True)
def share_grant_list(client_id, active, as_json) -> None:
    """List the sharing grants (grant id, status, client, types, sensitive, purpose)."""
    grants = ShareGrants(open_home().engine).list(client_id=client_id, active_only=active)
    _emit_grants(grants, as_json, many=True)


@share_grant_group.command("revoke")
@click.argument("grant_id")
@click.option("--reason", help="Why (recorded).")
@click.option("--json", "as_json", is_flag=True)
def share_grant_revoke(grant_id, reason, as_json) -> None:
    """Revoke a sharing grant: the client's next request under it is refused."""
    home = open_home()
    try:
        grant = ShareGrants(home.engine, home.audit_chain()).revoke(grant_id, actor=_actor(), reason=reason)
    except LicenceError as exc:
        raise _refusal(exc) from None
    _emit_grants([grant], as_json)


def run_batch(batch_id: str) -> dict:
    """JobQueue entry point for API batch imports (licence.batch.JOB_FUNCTION): runs in the server's
    thread pool, or in `yitong worker` (RQ), with the library built from the environment."""
    from licence import batch

    library = _library()
    try:
        return batch.run_batch(library, batch_id)
    finally:
        library.engine.dispose()
