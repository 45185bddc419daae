"""Licence-aware verification: the electronic licence (电子证照) a sealed PDF or OFD carries.

A licence issued by Yitong's licence service (or any issuer writing the same GB/T 36903 names)
carries its metadata in the PDF's document information dictionary or in OFD.xml's DocInfo
``CustomDatas``: ``LicenceIdentifier``, ``LicenceName``, ``LicenceTypeCode``, ``IssuerName``,
``ValidFrom``, ``ValidTo``, ``HolderName``, ``HolderCode``, ``HolderCodeType`` (111 ID card, 001
USCC) and, from licences issued now on, ``StatusService`` (the issuer's public status endpoint).

On top of the seal signatures the report then gains a ``licence`` block (type, identifier with its
check character verified by keys/licenceids.py, holder masked for persons, validity) and document
steps:

- ``licence_identifier``: the GB/T 36904 identifier parses and its MOD 37,36 check character is
  right; otherwise TOTAL_FAILED / FORMAT_FAILURE (a tampered or mistyped identifier).
- ``licence_metadata``: in a PDF, the metadata is the same in every revision of the file, so an
  incremental update after sealing cannot change what the licence says (pyhanko's difference
  policy lets the information dictionary change); in an OFD, a seal's references include
  ``/OFD.xml`` (ours do: a changed identifier then breaks the seal). An OFD whose seals leave
  OFD.xml out gets no step, ``metadata_protected: false`` and a note.
- ``licence_status`` (only when a status is looked up: ``yitong verify --online``, or the server's
  own page for its own licences, in-process): ``valid`` passes; ``revoked`` and ``superseded`` are
  TOTAL_FAILED / REVOKED and ``expired`` TOTAL_FAILED / EXPIRED — the file's seal may be intact, the
  licence is no longer good; an issuer that cannot be asked (or does not know the licence) is
  INDETERMINATE / TRY_LATER. Offline there is no status step and a note says the status was not
  checked.

A status lookup is a callable ``(licence_id, status_url) -> status | None`` handed in by the
caller, optionally with a ``source`` attribute naming it in the report (None: "not a licence I
know of", no step; :class:`StatusUnavailable`: INDETERMINATE). verify/ fetches only through
:func:`fetch_status`, which ``verify_bytes`` uses when ``online``.
"""

from __future__ import annotations

import io
import json
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from keys.budget import BudgetExceeded, time_budget
from keys.idnumbers import mask_id_number, mask_name
from keys.licenceids import IdentifierError, parse_identifier
from keys.verdict import CheckName, Step, SubIndication, failed, passed
from verify import report as r

FIELDS = ("LicenceIdentifier", "LicenceNumber", "LicenceName", "LicenceTypeCode", "IssuerName", "IssuerCode",
          "IssueDate", "ValidFrom", "ValidTo", "HolderName", "HolderCode", "HolderCodeType", "StatusService")
STATUSES = ("valid", "revoked", "superseded", "expired")
MAX_VALUE = 512

StatusLookup = Callable[[str, str | None], str | None]


class StatusUnavailable(Exception):
    """The issuer's status could not be had (network, HTTP error, unknown licence)."""


def _clean(values: dict[str, Any]) -> dict[str, str]:
    return {key: str(values[key])[:MAX_VALUE] for key in FIELDS if values.get(key) is not None}


def pdf_metadata(data: bytes) -> tuple[dict[str, str], bool] | None:
    """(licence metadata of the last revision, the same in every revision) of a PDF, or None."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        revisions = []
        for revision in range(reader.xrefs.total_revisions):
            resolver = reader.get_historical_resolver(revision)  # each revision's own objects, not the last
            info = resolver.trailer_view.raw_get("/Info") if "/Info" in resolver.trailer_view else None
            info = resolver(info) if isinstance(info, generic.IndirectObject) else info
            info = info if isinstance(info, generic.DictionaryObject) else {}
            revisions.append(_clean({key: info.get(f"/{key}") for key in FIELDS}))
    except Exception:  # an unreadable PDF is the document steps' business, not the licence's
        return None
    if not revisions or "LicenceIdentifier" not in revisions[-1]:
        return None
    licence_revisions = [values for values in revisions if values]
    return revisions[-1], all(values == revisions[-1] for values in licence_revisions)


def _licence_values(values: dict[str, str] | None) -> dict[str, str] | None:
    """The licence metadata among an OFD's CustomDatas (read by verify_ofd), or None."""
    values = _clean({name: text for name, text in (values or {}).items() if name in FIELDS})
    return values if "LicenceIdentifier" in values else None


def status_url(values: dict[str, str]) -> str | None:
    """The issuer's status endpoint for this licence (http(s) only), from the file's StatusService."""
    base = values.get("StatusService")
    if not base or urllib.parse.urlsplit(base).scheme not in ("http", "https"):
        return None
    return base


def fetch_status(licence_id: str, url: str | None, *, timeout: float = 10.0) -> str | None:
    """``yitong verify --online``: GET the issuer's public status endpoint named in the (sealed) file."""
    if url is None or urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise StatusUnavailable("the file names no http(s) status service of its issuer")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - http(s) only
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) only
            body = json.loads(response.read(64 * 1024))
    except Exception as exc:
        raise StatusUnavailable(f"{url}: {r.describe(exc)}") from None
    if not isinstance(body, dict) or body.get("licence_id") != licence_id:
        raise StatusUnavailable(f"{url} answered for another licence")
    return body.get("status")


def _status_step(status: str | None, source: str) -> Step:
    if status == "valid":
        return passed(CheckName.LICENCE_STATUS, f"the issuer reports the licence valid ({source})")
    if status in ("revoked", "superseded"):
        return failed(CheckName.LICENCE_STATUS, SubIndication.REVOKED,
                      f"the issuer reports the licence {status} ({source}): the seal may be intact, the licence "
                      "is no longer in force")
    if status == "expired":
        return failed(CheckName.LICENCE_STATUS, SubIndication.EXPIRED,
                      f"the issuer reports the licence expired ({source})")
    return failed(CheckName.LICENCE_STATUS, SubIndication.TRY_LATER,
                  f"the issuer's status could not be had ({source})")


METADATA_SECONDS = 5.0
_UNREADABLE = frozenset({CheckName.PARSE, CheckName.TRAILING_BYTES, CheckName.TIME_BUDGET, CheckName.INTERNAL})


def attach(report: r.Report, data: bytes, status_lookup: StatusLookup | None = None) -> None:
    """Add the ``licence`` block and its steps to ``report`` when the file carries licence metadata."""
    if report.format == "pdf":
        # Only a PDF the document steps could open within the limits is read again, and within a
        # budget of its own: a pathological file (a 20 MB digit stream) must not cost minutes here
        # after the safe reader refused it in milliseconds.
        if any(not step.passed and step.name in _UNREADABLE for step in report.document_steps):
            return
        try:
            with time_budget(METADATA_SECONDS, "reading the licence metadata"):
                found = pdf_metadata(data)
        except BudgetExceeded:
            found = None
        if found is None:
            return
        values, protected = found
    elif report.format == "ofd":
        values = _licence_values(report.custom_data)  # read by verify_ofd when it opened the package
        if values is None:
            return
        protected = any(ref.get("file") == "/OFD.xml" for sig in report.signatures if sig.ofd
                        for ref in sig.ofd.get("references", []))
    else:
        return
    licence_id = values["LicenceIdentifier"]
    person = values.get("HolderCodeType") == "111"
    holder_name = values.get("HolderName", "")
    block: dict[str, Any] = {
        "licence_id": licence_id, "number": values.get("LicenceNumber"),
        "type": {"code": values.get("LicenceTypeCode"), "name": values.get("LicenceName")},
        "issuer": {"name": values.get("IssuerName"), "code": values.get("IssuerCode")},
        "holder": {"kind": "person" if person else "organisation",
                   "name": mask_name(holder_name) if person else holder_name,
                   "code": mask_id_number(values.get("HolderCode"))},
        "issue_date": values.get("IssueDate"),
        "validity": {"from": values.get("ValidFrom"), "to": values.get("ValidTo")},
        "check_character": "valid", "metadata_protected": protected, "status": None, "status_source": None,
    }
    try:
        parse_identifier(licence_id)
        report.add(passed(CheckName.LICENCE_IDENTIFIER,
                          "a GB/T 36904 licence identifier with a correct ISO 7064 MOD 37,36 check character"))
    except IdentifierError as exc:
        block["check_character"] = "invalid"
        report.add(failed(CheckName.LICENCE_IDENTIFIER, SubIndication.FORMAT_FAILURE, str(exc)))
    if report.format == "pdf":
        report.add(passed(CheckName.LICENCE_METADATA, "the licence metadata is the same in every revision")
                   if protected else
                   failed(CheckName.LICENCE_METADATA, SubIndication.FORMAT_FAILURE,
                          "the licence metadata was changed in a revision added after the licence was made"))
    elif protected:
        report.add(passed(CheckName.LICENCE_METADATA, "OFD.xml, which holds the licence metadata, is among the "
                                                      "files the seal protects"))
    else:
        report.notes.append("no seal of this OFD protects OFD.xml, where its licence metadata is: compare the "
                            "identifier with the face")
    if status_lookup is None:
        report.notes.append("the licence's current status was not checked (offline): use --online or the "
                            "issuer's status service")
    elif block["check_character"] == "valid":
        url = status_url(values)
        try:
            status = status_lookup(licence_id, url)
            source = getattr(status_lookup, "source", None) or url or "the caller's status lookup"
        except StatusUnavailable as exc:
            status, source = "unavailable", str(exc)
        if status is None:  # a lookup that answers only for its own licences (the server's page)
            report.notes.append("the licence was not issued here: its current status is the issuer's to tell")
        else:
            block["status"] = status if status in STATUSES else None
            block["status_source"] = source
            report.add(_status_step(status, source))
    report.licence = block


__all__ = ["StatusUnavailable", "attach", "fetch_status", "pdf_metadata", "status_url"]
