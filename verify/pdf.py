"""PDF signature verification with the stricter policy of DESIGN.md ("PDF verification policy").

pyhanko reads the file, extracts signatures, computes digests, evaluates coverage and runs its
difference analysis; pyhanko-certvalidator builds and validates paths. On top of that we check
what the known attacks (USF/ISA/SWA, Shadow hide/replace, EAA/SSA) exploit: the exact ByteRange
shape and gap, bytes after the last revision, a signature dictionary referenced twice,
overlapping ByteRanges, and form filling / annotations after a seal (FAIL unless the policy
allows them). Every exception becomes a verdict.
"""

from __future__ import annotations

import binascii
import contextlib
import io
import itertools
import re
from datetime import UTC, datetime

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.decode_limits import DecodeLimits, DecodePurpose, StreamDecodeLimits
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import (
    CatalogModificationRule,
    DiffResult,
    DocInfoRule,
    DSSCompareRule,
    FormUpdatingRule,
    GenericFieldModificationRule,
    MetadataUpdateRule,
    ModificationLevel,
    ObjectStreamRule,
    SigFieldCreationRule,
    SigFieldModificationRule,
    StandardDiffPolicy,
    SuspiciousModification,
    XrefStreamRule,
)
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.general import SignedDataCerts, find_unique_cms_attribute
from pyhanko.sign.validation import generic_cms
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import SignatureCoverageLevel

from keys import oids
from keys import ses as keys_ses
from keys.budget import BudgetExceeded, time_budget
from keys.cms import seseal_from_signer_info
from verify import certs as c
from verify import report as r
from verify.policy import DEFAULT, Limits, Policy
from verify.ses import describe_seal, maker_chain_step, seal_validity_step
from verify.trust import TrustBundle, as_trust

_SUBFILTERS = {"/adbe.pkcs7.detached", "/ETSI.CAdES.detached"}
_TS_SUBFILTERS = {"/ETSI.RFC3161"}
_WS = b" \t\r\n\f\x00"
_COMMENT = re.compile(rb"%(?!%EOF)[^\r\n]*")
_TAIL = re.compile(rb"startxref\s+(\d+)\s*%%EOF[ \t\r\n\f\x00]*\Z")
_STARTXREF = re.compile(rb"startxref[ \t\r\n\f\x00]+(\d+)")
_XREF_START = re.compile(rb"[ \t\r\n\f\x00]*(?:xref|\d{1,10}[ \t\r\n\f\x00]+\d{1,5}[ \t\r\n\f\x00]+obj)")


def structural_problem(data: bytes, limits: Limits) -> str | None:
    """Why ``data`` cannot be a PDF worth parsing, found without parsing it (None: go ahead).

    pyhanko reads a token byte by byte and retries from other offsets, so a file that is one
    long run of digits (``%PDF-1.7``, 20 M digits, ``startxref 9``: issue 12 item 9) cost 30 s
    and 2 GB before it failed. Every PDF's last ``startxref`` names an offset inside the file
    where an ``xref`` table or an ``N G obj`` cross-reference stream starts (ISO 32000-1
    §7.5.5, §7.5.8); and no PDF token is a run of ``max_token_bytes`` digits.
    """
    at = data.rfind(b"startxref", max(0, len(data) - 1024))
    match = _STARTXREF.match(data, at) if at >= 0 else None
    if match is None:
        return "no startxref offset in the last 1024 bytes"
    offset = int(match.group(1)) if len(match.group(1)) <= 12 else len(data)
    header = data.find(b"%PDF-", 0, 1024)  # offsets may count from a header that junk precedes
    if offset >= match.start() or not any(_XREF_START.match(data, offset + shift) for shift in {0, max(header, 0)}):
        return f"startxref {match.group(1)[:20].decode()} does not point at a cross-reference section"
    if re.search(rb"(?<![0-9])[0-9]{%d}" % limits.max_token_bytes, data):
        return f"a run of more than {limits.max_token_bytes} digits (no PDF token is that long)"
    return None


class _Reader(PdfFileReader):
    """pyhanko's reader, except that ``/Encrypt null`` means "not encrypted" (ISO 32000: null = absent)."""

    @property
    def encrypt_dict(self):
        try:
            raw = self.trailer.raw_get("/Encrypt")
        except KeyError:
            return None
        if isinstance(raw, generic.NullObject):
            return None
        return super().encrypt_dict


def _decode_limits(policy: Policy) -> DecodeLimits:
    per_stream = StreamDecodeLimits(max_output_size=policy.limits.max_stream_bytes)
    defaults = DecodeLimits()
    return DecodeLimits(per_stream=per_stream, per_purpose=dict(defaults.per_purpose))


def _diff_policy(policy: Policy) -> StandardDiffPolicy:
    field_rules = [SigFieldCreationRule(), SigFieldModificationRule()]
    if policy.allow_form_filling:
        field_rules.append(GenericFieldModificationRule())
    return StandardDiffPolicy(
        global_rules=[
            CatalogModificationRule(),
            DocInfoRule().as_qualified(ModificationLevel.LTA_UPDATES),
            XrefStreamRule().as_qualified(ModificationLevel.LTA_UPDATES),
            ObjectStreamRule().as_qualified(ModificationLevel.LTA_UPDATES),
            DSSCompareRule().as_qualified(ModificationLevel.LTA_UPDATES),
            MetadataUpdateRule().as_qualified(ModificationLevel.LTA_UPDATES),
        ],
        form_rule=FormUpdatingRule(field_rules=field_rules),
    )


def verify_pdf(data: bytes, trust, policy: Policy = DEFAULT, at: datetime | None = None, online: bool = False, *,
               name: str = "document.pdf", crls=(), ocsps=()) -> r.Report:
    """Verify every signature of a PDF against the trust anchors; never raises on bad input.

    ``trust``: a :class:`TrustBundle`, PEM/DER bytes, a path or certificates. ``at``: the validation
    time (default now). ``online``: allow fetching CRL/OCSP (never the default). ``crls``/``ocsps``:
    extra revocation data the caller vouches for (e.g. the server's own current CRLs).
    """
    trust = as_trust(trust)
    data = bytes(data)
    validation_time = at or datetime.now(UTC)
    report = r.Report.start(data, name=name, policy=policy, validation_time=validation_time, trust=trust,
                            online=online)
    if not policy.steps:
        report.add(r.failed("policy", r.POLICY_PROCESSING_ERROR, "the policy has no steps: nothing can pass"))
        return report
    supplied = c.Revinfo()
    for item in crls:
        with contextlib.suppress(ValueError, TypeError):
            supplied.crls.append((item if isinstance(item, asn1_crl.CertificateList)
                                  else asn1_crl.CertificateList.load(bytes(item)), "supplied"))
    for item in ocsps:
        with contextlib.suppress(ValueError, TypeError):
            supplied.ocsps.append((item if isinstance(item, asn1_ocsp.OCSPResponse)
                                   else asn1_ocsp.OCSPResponse.load(bytes(item)), "supplied"))
    job = _PdfJob(data, trust, policy, validation_time, online, report, supplied)
    try:
        c.run(job.run_within(policy.limits.seconds))
    except BudgetExceeded as exc:
        report.add(r.failed("time_budget", r.GENERIC, f"{exc}; the document is too complex to verify"))
    except RecursionError:
        report.add(r.failed("parse", r.FORMAT_FAILURE, "the document nests objects too deeply"))
    except MemoryError:
        report.add(r.failed("parse", r.FORMAT_FAILURE, "the document needs too much memory to verify"))
    except Exception as exc:  # the last line: a verdict, never a crash
        report.add(r.failed("internal", r.GENERIC, f"verification stopped: {type(exc).__name__}: {exc}"))
    return report


class _PdfJob:
    def __init__(self, data: bytes, trust: TrustBundle, policy: Policy, validation_time: datetime, online: bool,
                 report: r.Report, supplied: c.Revinfo) -> None:
        self.data = data
        self.trust = trust
        self.policy = policy
        self.validation_time = validation_time
        self.online = online
        self.report = report
        self.supplied = supplied
        self.reader: PdfFileReader | None = None
        self._dss: c.Revinfo | None = None
        self._stamps: list[tuple[int, r.SignatureReport]] = []  # document time-stamps: (signed revision, report)
        self._pending: list = []  # unproven signatures: (revision, report, signer cert, path, revinfo)

    def doc_step(self, step: r.Step) -> r.Step:
        if self.policy.runs(step.name) or not step.passed:
            self.report.add(step)
        return step

    # -- document ----------------------------------------------------------------------------------
    async def run_within(self, seconds: float) -> None:
        """:meth:`run` within a time budget, entered in the thread that runs the event loop (which
        is not the caller's when the caller already runs one: ``c.run``)."""
        with time_budget(seconds, "verification"):
            await self.run()

    async def run(self) -> None:
        data, limits = self.data, self.policy.limits
        if len(data) > limits.max_bytes:
            self.doc_step(r.failed("parse", r.FORMAT_FAILURE, f"the file is larger than {limits.max_bytes} bytes"))
            return
        if b"%PDF-" not in data[:1024]:
            self.doc_step(r.failed("parse", r.FORMAT_FAILURE, "not a PDF file (no %PDF- header)"))
            return
        problem = structural_problem(data, limits)
        if problem is not None:
            self.doc_step(r.failed("parse", r.FORMAT_FAILURE, f"the PDF cannot be parsed: {problem}"))
            return
        try:
            reader = _Reader(io.BytesIO(data), strict=False, decode_limits=_decode_limits(self.policy))
            revisions = reader.xrefs.total_revisions
            size = int(reader.trailer.raw_get("/Size")) if "/Size" in reader.trailer else 0
            encrypt = reader.trailer.raw_get("/Encrypt") if "/Encrypt" in reader.trailer else None
            encrypted = encrypt is not None and not isinstance(encrypt, generic.NullObject)
        except (BudgetExceeded, MemoryError):
            raise
        except Exception as exc:
            self.doc_step(r.failed("parse", r.FORMAT_FAILURE, f"the PDF cannot be parsed: {_describe(exc)}"))
            return
        if revisions > limits.max_revisions or size > limits.max_objects:
            self.doc_step(r.failed("parse", r.FORMAT_FAILURE,
                                   f"{revisions} revisions / {size} objects exceed the limits "
                                   f"({limits.max_revisions} / {limits.max_objects})"))
            return
        if encrypted:
            self.doc_step(r.failed("parse", r.FORMAT_FAILURE, "encrypted PDFs are not verified"))
            return
        self.reader = reader
        self.doc_step(r.passed("parse", f"PDF with {revisions} revision(s)"
                                        f"{' (hybrid cross-references)' if reader.xrefs.hybrid_xrefs_present else ''}"))
        self.doc_step(self._trailing_bytes_step(reader))
        try:
            found = list(enumerate_sig_fields(reader, filled_status=True))
        except (BudgetExceeded, MemoryError, RecursionError):
            raise
        except Exception as exc:
            self.doc_step(r.failed("signatures_present", r.FORMAT_FAILURE,
                                   f"the form fields cannot be read: {_describe(exc)}"))
            return
        if not found:
            self.doc_step(r.failed("signatures_present", r.FORMAT_FAILURE, "the document has no signature"))
            return
        if len(found) > limits.max_signatures:
            self.doc_step(r.failed("signatures_present", r.FORMAT_FAILURE,
                                   f"{len(found)} signatures exceed the limit of {limits.max_signatures}"))
            return
        self.doc_step(r.passed("signatures_present", f"{len(found)} signature field(s) filled"))
        self.doc_step(self._references_step(found))
        embedded: list[tuple[str, EmbeddedPdfSignature | None, object, Exception | None]] = []
        for fq_name, _value, field_ref in found:
            try:
                embedded.append((fq_name, EmbeddedPdfSignature(reader, field_ref, fq_name), field_ref, None))
            except (BudgetExceeded, MemoryError, RecursionError):
                raise
            except Exception as exc:
                embedded.append((fq_name, None, field_ref, exc))
        self.doc_step(self._disjoint_step([e for _, e, _, _ in embedded if e is not None]))
        embedded.sort(key=lambda item: item[1].signed_revision if item[1] is not None else 1 << 30)
        for fq_name, sig, field_ref, error in embedded:
            kind = "document-timestamp" if sig is not None and sig.sig_object_type == "/DocTimeStamp" else \
                "pdf-signature"
            report = r.SignatureReport(kind, str(fq_name))
            self.report.signatures.append(report)
            try:
                if sig is None:
                    report.add(r.failed("cms_structure", r.FORMAT_FAILURE,
                                        f"the signature cannot be read: {_describe(error)}"))
                    continue
                report.widget = _widget(reader, field_ref)
                await self._signature(sig, report)
            except (BudgetExceeded, MemoryError, RecursionError):
                raise
            except Exception as exc:
                report.add(r.failed("internal", r.GENERIC, f"verification stopped: {_describe(exc)}"))
        self._apply_document_timestamps()

    def _apply_document_timestamps(self) -> None:
        """A trusted document time-stamp over a later revision proves the signature existed at its time
        (PAdES B-LTA): it settles OUT_OF_BOUNDS_NO_POE and REVOKED_NO_POE of an unproven signing time."""
        stamps = [(revision, report) for revision, report in self._stamps if report.passed]
        for revision, report, signer_cert, path, revinfo in self._pending:
            later = [(stamp.signing_time["time"], stamp.name) for stamp_revision, stamp in stamps
                     if stamp_revision > revision and stamp.signing_time and stamp.signing_time.get("time")]
            if not later:
                continue
            when_text, stamp_name = min(later)
            poe = datetime.fromisoformat(when_text)
            for index, step in enumerate(report.steps):
                if step.name == "validity_at_signing_time" and step.sub_indication == r.OUT_OF_BOUNDS_NO_POE:
                    if poe <= signer_cert.not_valid_after:
                        report.steps[index] = r.passed(step.name, f"the document time-stamp {stamp_name} at "
                                                                  f"{when_text} proves the signature existed while "
                                                                  f"the certificate was valid (to "
                                                                  f"{signer_cert.not_valid_after.isoformat()})")
                if step.name == "revocation" and step.sub_indication == r.REVOKED_NO_POE and path:
                    if c.revoked_after(path, revinfo, poe) is None:
                        report.steps[index] = r.passed(step.name, f"revoked only after the document time-stamp "
                                                                  f"{stamp_name} at {when_text}, which proves the "
                                                                  f"signature existed before")

    def _trailing_bytes_step(self, reader: PdfFileReader) -> r.Step:
        name = "trailing_bytes"
        data = self.data
        eof = data.rfind(b"%%EOF")
        if eof < 0:
            return r.failed(name, r.FORMAT_FAILURE, "no %%EOF marker")
        match = _TAIL.search(data, max(0, eof - 64))
        if match is None:
            tail = len(data) - (eof + 5)
            return r.failed(name, r.FORMAT_FAILURE, f"{tail} byte(s) after the last %%EOF that are not a revision")
        if int(match.group(1)) != reader.last_startxref:
            return r.failed(name, r.FORMAT_FAILURE, "the last startxref is not the newest revision pyhanko parsed")
        last = reader.xrefs.total_revisions - 1
        end = reader.xrefs.get_xref_container_info(last).end_location
        # what may sit between the xref section and startxref: its trailer, endstream/endobj, comments
        between = _COMMENT.sub(b"", data[end:match.start()]).strip(_WS)
        explained = (not between or re.fullmatch(rb"(endstream\s*)?endobj", between) is not None
                     or (between.startswith((b"trailer", b"<<")) and between.endswith(b">>") and len(between) < 65536))
        if not explained:
            return r.failed(name, r.FORMAT_FAILURE, f"{len(between)} unexplained byte(s) between the last "
                                                    f"cross-reference section and startxref")
        return r.passed(name, "the file ends with its last revision's %%EOF")

    def _references_step(self, found) -> r.Step:
        name = "signature_references"
        seen: dict[tuple[int, int], str] = {}
        fields_seen: dict[tuple[int, int], str] = {}
        for fq_name, _value, field_ref in found:
            if isinstance(field_ref, generic.IndirectObject):
                key = (field_ref.idnum, field_ref.generation)
                if key in fields_seen:
                    return r.failed(name, r.FORMAT_FAILURE, f"field object {key[0]} {key[1]} R is listed twice "
                                                            f"({fields_seen[key]}, {fq_name})")
                fields_seen[key] = str(fq_name)
            field = field_ref.get_object()
            raw = field.raw_get("/V")
            if not isinstance(raw, generic.IndirectObject):
                return r.failed(name, r.FORMAT_FAILURE, f"field {fq_name}: the signature value is not an "
                                                        f"indirect object")
            key = (raw.idnum, raw.generation)
            if key in seen:
                return r.failed(name, r.FORMAT_FAILURE, f"one signature dictionary ({key[0]} {key[1]} R) is "
                                                        f"referenced by two fields: {seen[key]} and {fq_name}")
            seen[key] = str(fq_name)
        return r.passed(name, "every signature dictionary is referenced by one field")

    def _disjoint_step(self, signatures: list[EmbeddedPdfSignature]) -> r.Step:
        name = "byte_ranges_disjoint"
        gaps = []
        for sig in signatures:
            shape = _byte_range(sig)
            if shape is None:
                continue  # its own byte_range step fails
            _, a, b, _c = shape
            gaps.append((a, b, sig.field_name))
        gaps.sort()
        for (_a1, b1, n1), (a2, _b2, n2) in itertools.pairwise(gaps):
            if a2 < b1:
                return r.failed(name, r.FORMAT_FAILURE, f"the /Contents gaps of {n1} and {n2} overlap")
        for sig in signatures:
            shape = _byte_range(sig)
            if shape is None:
                continue
            _, a, b, cc = shape
            for ga, gb, gname in gaps:
                if gname == sig.field_name:
                    continue
                # another signature's /Contents may lie entirely inside this one's signed bytes (an earlier
                # signature), or entirely after them (a later one) — never straddle them.
                inside_first = gb <= a
                inside_second = ga >= b and gb <= b + cc
                after = ga >= b + cc
                if not (inside_first or inside_second or after):
                    return r.failed(name, r.FORMAT_FAILURE, f"the ByteRange of {sig.field_name} overlaps the "
                                                            f"/Contents of {gname}")
        return r.passed(name, "no two signatures' byte ranges overlap")

    async def _dss_revinfo(self) -> c.Revinfo:
        if self._dss is None:
            self._dss = _read_dss(self.reader)
        return self._dss

    # -- one signature -----------------------------------------------------------------------------
    async def _signature(self, sig: EmbeddedPdfSignature, report: r.SignatureReport) -> None:
        policy = self.policy

        def add(step: r.Step) -> r.Step:
            report.add(step)
            return step

        # cms_structure
        structure = _structure_step(sig, report.kind)
        add(structure)
        if not structure.passed:
            return
        certs_info: SignedDataCerts | None = None
        if report.kind == "pdf-signature":
            try:
                certs_info = generic_cms.extract_certs_for_validation(sig.signed_data)
            except Exception as exc:
                report.steps[-1] = r.failed("cms_structure", r.NO_SIGNING_CERTIFICATE_FOUND,
                                            f"the signer certificate is not in the signature: {_describe(exc)}")
                return
            report.signer = c.describe_signer(certs_info.signer_cert)
        # byte_range, coverage
        add(self._byte_range_step(sig))
        coverage = _coverage_step(sig)
        add(coverage)
        # message_digest and signature value
        if report.kind == "document-timestamp":
            await self._doc_timestamp(sig, report)
            self._stamps.append((sig.signed_revision, report))
            return
        digest_step, value_step = _integrity_steps(sig, certs_info.signer_cert)
        add(digest_step)
        add(value_step)
        signer_cert = certs_info.signer_cert
        other_certs = list(certs_info.other_certs)
        # timestamp -> signing time
        claimed = _claimed_time(sig)
        signing_time, proven, source = claimed, False, "claimed (signingTime / /M, unproven)"
        ts_step, stamped, ts_evidence = await self._timestamp_step(sig)
        add(ts_step)
        if stamped is not None:
            signing_time, proven, source = stamped, True, "timestamp"
            report.evidence.append(ts_evidence)
        if signing_time is None:
            signing_time, source = self.validation_time, "none claimed: the validation time is used"
        report.signing_time = {"time": r.iso(signing_time), "source": source, "proven": proven,
                               "claimed": r.iso(claimed)}
        # revocation evidence: CMS (adbe-revinfo, SignedData crls) + DSS + supplied
        revinfo = _cms_revinfo(sig)
        revinfo.extend(await self._dss_revinfo())
        revinfo.extend(self.supplied)
        outcome = await c.validate_chain(signer_cert, self.trust, other_certs=other_certs, revinfo=revinfo,
                                         moment=signing_time, proven=proven, online=self.online)
        report.warnings.extend(outcome.ignored)
        if not proven:
            self._pending.append((sig.signed_revision, report, signer_cert, outcome.path, revinfo))
        add(outcome.chain)
        add(c.validity_step(signer_cert, signing_time, proven, self.validation_time))
        add(outcome.revocation)
        report.evidence.extend(revinfo.evidence())
        add(c.key_usage_step(signer_cert))
        add(await self._seal_step(sig, report, signer_cert, signing_time, proven,
                                  [*other_certs, *revinfo.certs]))
        add(self._modifications_step(sig))
        if not policy.steps or set(policy.steps).isdisjoint(s.name for s in report.steps):
            add(r.failed("policy", r.POLICY_PROCESSING_ERROR, "the policy selects none of the signature steps"))
        # keep only the steps the policy names (failures always stay: they are the verdict)
        report.steps[:] = [s for s in report.steps if policy.runs(s.name) or not s.passed]

    def _byte_range_step(self, sig: EmbeddedPdfSignature) -> r.Step:
        name = "byte_range"
        raw = sig.byte_range
        values = list(raw) if isinstance(raw, generic.ArrayObject | list) else None
        if values is None or len(values) != 4 or not all(isinstance(v, int) and not isinstance(v, bool)
                                                          for v in values):
            return r.failed(name, r.FORMAT_FAILURE, f"/ByteRange must be four integers, not {raw!r}"[:300])
        start, a, b, length = (int(v) for v in values)
        size = len(self.data)
        if start != 0:
            return r.failed(name, r.FORMAT_FAILURE, f"/ByteRange must start at 0, not {start}")
        if a <= 0 or length < 0 or b <= a + 1:
            return r.failed(name, r.FORMAT_FAILURE, f"/ByteRange [0 {a} {b} {length}] is not a valid shape")
        if b + length > size:
            return r.failed(name, r.FORMAT_FAILURE, f"/ByteRange [0 {a} {b} {length}] reaches past the end of the "
                                                    f"file ({size} bytes)")
        gap = self.data[a:b]
        if gap[:1] != b"<" or gap[-1:] != b">":
            return r.failed(name, r.FORMAT_FAILURE, "the gap of /ByteRange is not a hex string <...>")
        body = gap[1:-1]
        if re.search(rb"[^0-9A-Fa-f]", body):
            return r.failed(name, r.FORMAT_FAILURE, "the gap of /ByteRange holds other than hexadecimal digits")
        try:
            decoded = binascii.unhexlify(body if len(body) % 2 == 0 else body + b"0")
        except binascii.Error:
            return r.failed(name, r.FORMAT_FAILURE, "the gap of /ByteRange is not valid hex")
        contents = sig.pkcs7_content
        if decoded.rstrip(b"\x00") != contents.rstrip(b"\x00") or len(decoded) < len(contents):
            return r.failed(name, r.FORMAT_FAILURE, "the gap of /ByteRange is not this signature's /Contents")
        return r.passed(name, f"[0 {a} {b} {length}]: everything but this signature's /Contents, inside the file")

    async def _timestamp_step(self, sig: EmbeddedPdfSignature):
        name = "timestamp"
        unsigned = sig.signer_info["unsigned_attrs"]
        tokens = [] if not unsigned else [a for a in unsigned if a["type"].native == "signature_time_stamp_token"]
        if not tokens:
            return r.passed(name, "no signature time-stamp: the signing time is the signer's claim"), None, None
        context = c.validation_context(self.trust, online=self.online, moment=self.validation_time)
        try:
            timing = await generic_cms.collect_timing_info(sig.signer_info, context, raw_digest=sig.compute_digest)
        except Exception as exc:
            return r.failed(name, r.FORMAT_FAILURE, f"unreadable time-stamp token: {_describe(exc)}"), None, None
        status = timing.get("timestamp_validity")
        if status is None:
            return r.failed(name, r.FORMAT_FAILURE, "the time-stamp token cannot be read"), None, None
        tsa = status.signing_cert.subject.human_friendly if status.signing_cert is not None else "unknown TSA"
        if not status.intact:
            return r.failed(name, r.HASH_FAILURE, f"the time-stamp by \"{tsa}\" does not cover this signature "
                                                  f"value"), None, None
        if not status.valid:
            return r.failed(name, r.SIG_CRYPTO_FAILURE, f"the time-stamp signature of \"{tsa}\" does not verify"), \
                None, None
        evidence = {"type": "timestamp", "source": "signature-time-stamp-token", "tsa": tsa,
                    "time": r.iso(status.timestamp), "trusted": status.trusted}
        if not status.trusted:
            return r.failed(name, r.NO_CERTIFICATE_CHAIN_FOUND,
                            f"the time-stamp by \"{tsa}\" ({status.timestamp.isoformat()}) verifies but its TSA does "
                            f"not chain to a trust anchor"), None, None
        return r.passed(name, f"time-stamp by \"{tsa}\" at {status.timestamp.isoformat()} verifies and is "
                              f"trusted"), status.timestamp, evidence

    async def _seal_step(self, sig, report: r.SignatureReport, signer_cert: x509.Certificate, when: datetime,
                         proven: bool, other_certs: list[x509.Certificate]) -> r.Step:
        name = "seal"
        try:
            der = seseal_from_signer_info(sig.signer_info)
        except ValueError as exc:
            return r.failed(name, r.FORMAT_FAILURE, str(exc))
        if der is None:
            if self.policy.require_seal:
                return r.failed(name, r.SIG_CONSTRAINTS_FAILURE, "the signature carries no GB/T 38540 seal")
            return r.passed(name, "no GB/T 38540 seal attribute: an ordinary PDF signature")
        try:
            seal = keys_ses.parse_seal(der)
        except keys_ses.SesError as exc:
            return r.failed(name, r.FORMAT_FAILURE, f"the SESeal attribute is malformed: {exc}")
        report.seal = describe_seal(seal)
        maker = keys_ses.verify_maker_signature(seal)
        if not maker.passed:
            return r.failed(name, r.SIG_CRYPTO_FAILURE, f"seal {seal.es_id}: {maker.failures[0].reason}")
        signer_der = signer_cert.dump()
        if signer_der not in seal.certs and not _in_digests(seal, signer_der):
            return r.failed(name, r.SIG_CONSTRAINTS_FAILURE, f"the signer certificate is not in the certList of "
                                                             f"seal {seal.es_id}")
        validity = seal_validity_step(seal, when, proven)
        if not validity.passed:
            return r.Step(name, False, f"seal {seal.es_id}: {validity.reason}", validity.sub_indication)
        chain, revocation = await maker_chain_step(seal, self.trust, when, self.online, other_certs)
        for step in (chain, revocation):
            if not step.passed:
                return r.Step(name, False, f"seal {seal.es_id} maker: {step.reason}", step.sub_indication)
        return r.passed(name, f"seal {seal.es_id} \"{seal.name}\": maker signature valid, maker certificate "
                              f"trusted, signer certificate in its certList, valid at the signing time")

    def _modifications_step(self, sig: EmbeddedPdfSignature) -> r.Step:
        name = "modifications"
        coverage = sig.coverage
        if coverage == SignatureCoverageLevel.ENTIRE_FILE:
            return r.passed(name, "nothing was changed after signing (the signature covers the whole file)")
        if coverage != SignatureCoverageLevel.ENTIRE_REVISION:
            return r.failed(name, r.FORMAT_FAILURE, f"coverage {coverage.name}: later changes cannot be judged")
        try:
            result = _diff_policy(self.policy).review_file(self.reader, sig.signed_revision,
                                                           field_mdp_spec=sig.fieldmdp, doc_mdp=sig.docmdp_level)
        except (BudgetExceeded, MemoryError, RecursionError):
            raise
        except Exception as exc:
            return r.failed(name, r.FORMAT_FAILURE, f"the later revisions cannot be analysed: {_describe(exc)}")
        if isinstance(result, SuspiciousModification):
            return r.failed(name, r.FORMAT_FAILURE, f"suspicious change after signing: {result}")
        assert isinstance(result, DiffResult)
        level = result.modification_level
        fields = ", ".join(sorted(result.changed_form_fields)) or "none"
        docmdp = sig.docmdp_level
        if docmdp is not None and level.value > docmdp.value and level != ModificationLevel.LTA_UPDATES:
            return r.failed(name, r.FORMAT_FAILURE, f"changes at level {level.name} exceed the certification "
                                                    f"(DocMDP {docmdp.name})")
        if level == ModificationLevel.OTHER:
            return r.failed(name, r.FORMAT_FAILURE, "changes after signing that no rule allows (page content, "
                                                    "objects or structure)")
        if level == ModificationLevel.ANNOTATIONS and not self.policy.allow_annotations:
            return r.failed(name, r.FORMAT_FAILURE, "annotations changed after signing")
        if level == ModificationLevel.FORM_FILLING:
            sig_fields = _signature_field_names(self.reader)
            others = set(result.changed_form_fields) - sig_fields
            if others and not self.policy.allow_form_filling:
                return r.failed(name, r.FORMAT_FAILURE,
                                f"form fields filled after signing: {', '.join(sorted(others))}")
            return r.passed(name, f"after signing only signatures were added or filled ({fields})")
        return r.passed(name, f"after signing only {level.name.lower().replace('_', ' ')} updates "
                              "(time-stamps, DSS, metadata)")

    async def _doc_timestamp(self, sig: EmbeddedPdfSignature, report: r.SignatureReport) -> None:
        try:
            status = await generic_cms.validate_tst_signed_data(
                sig.signed_data, c.validation_context(self.trust, online=self.online, moment=self.validation_time),
                sig.compute_digest)
        except Exception as exc:
            report.add(r.failed("message_digest", r.FORMAT_FAILURE, f"unreadable document time-stamp: "
                                                                    f"{_describe(exc)}"))
            return
        report.add(r.passed("message_digest", "the time-stamp imprint matches the signed bytes") if status["intact"]
                   else r.failed("message_digest", r.HASH_FAILURE, "the time-stamp imprint does not match the "
                                                                   "signed bytes"))
        report.add(r.passed("signature_value", "the TSA signature verifies") if status["valid"]
                   else r.failed("signature_value", r.SIG_CRYPTO_FAILURE, "the TSA signature does not verify"))
        moment = status.get("timestamp")
        report.signing_time = {"time": r.iso(moment), "source": "timestamp", "proven": True, "claimed": None}
        cert = status.get("signing_cert")
        if cert is not None:
            report.signer = c.describe_signer(cert)
        trusted = status.get("trust_problem_indic") is None and status.get("validation_path") is not None
        report.add(r.passed("certificate_chain", "the TSA chains to a trust anchor") if trusted
                   else r.failed("certificate_chain", r.NO_CERTIFICATE_CHAIN_FOUND,
                                 "the TSA does not chain to a trust anchor"))
        report.add(self._modifications_step(sig))


# -- helpers ------------------------------------------------------------------------------------------
def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    text = str(exc).strip().replace("\n", " ")
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def _byte_range(sig: EmbeddedPdfSignature):
    try:
        values = [int(v) for v in sig.byte_range]
    except (TypeError, ValueError):
        return None
    return tuple(values) if len(values) == 4 else None


def _structure_step(sig: EmbeddedPdfSignature, kind: str) -> r.Step:
    name = "cms_structure"
    obj = sig.sig_object
    subfilter = obj.get("/SubFilter")
    allowed = _TS_SUBFILTERS if kind == "document-timestamp" else _SUBFILTERS
    if sig.sig_object_type not in ("/Sig", "/DocTimeStamp"):
        return r.failed(name, r.FORMAT_FAILURE, f"signature dictionary /Type {sig.sig_object_type}")
    if subfilter not in allowed:
        return r.failed(name, r.FORMAT_FAILURE, f"/SubFilter {subfilter} is not one of {', '.join(sorted(allowed))}")
    signed_data = sig.signed_data
    if len(signed_data["signer_infos"]) != 1:
        return r.failed(name, r.FORMAT_FAILURE, f"{len(signed_data['signer_infos'])} SignerInfos (exactly one "
                                                f"expected)")
    content_type = signed_data["encap_content_info"]["content_type"].native
    expected = "tst_info" if kind == "document-timestamp" else "data"
    if content_type != expected:
        return r.failed(name, r.FORMAT_FAILURE, f"encapsulated content type {content_type}, expected {expected}")
    if kind == "pdf-signature" and signed_data["encap_content_info"]["content"].native is not None:
        return r.failed(name, r.FORMAT_FAILURE, "the signature is not detached (it encapsulates content)")
    return r.passed(name, f"{subfilter[1:]} SignedData with one SignerInfo "
                          f"({sig.signer_info['digest_algorithm']['algorithm'].native}, "
                          f"{sig.signer_info['signature_algorithm']['algorithm'].native})")


def _coverage_step(sig: EmbeddedPdfSignature) -> r.Step:
    name = "coverage"
    try:
        sig.coverage = coverage = sig.evaluate_signature_coverage()
    except Exception as exc:
        return r.failed(name, r.FORMAT_FAILURE, f"coverage cannot be evaluated: {_describe(exc)}")
    if coverage == SignatureCoverageLevel.ENTIRE_FILE:
        return r.passed(name, "the signature covers the whole file")
    if coverage == SignatureCoverageLevel.ENTIRE_REVISION:
        return r.passed(name, f"the signature covers revision {sig.signed_revision + 1} entirely (later revisions "
                              f"are judged under modifications)")
    return r.failed(name, r.FORMAT_FAILURE, f"coverage {coverage.name}: the signed bytes do not include the signed "
                                            f"revision's cross-reference section, trailer and %%EOF")


def _integrity_steps(sig: EmbeddedPdfSignature, signer_cert: x509.Certificate) -> tuple[r.Step, r.Step]:
    try:
        digest = sig.compute_digest()
    except Exception as exc:
        return (r.failed("message_digest", r.FORMAT_FAILURE, f"the signed bytes cannot be digested: {_describe(exc)}"),
                r.failed("signature_value", r.FORMAT_FAILURE, "not checked"))
    try:
        intact, valid = generic_cms.validate_sig_integrity(sig.signer_info, signer_cert, "data", digest,
                                                           sig_validator=c.VALIDATOR)
    except Exception as exc:
        return (r.failed("message_digest", r.FORMAT_FAILURE, f"the signed attributes are malformed: "
                                                             f"{_describe(exc)}"),
                r.failed("signature_value", r.FORMAT_FAILURE, "not checked"))
    algorithm = sig.md_algorithm
    digest_step = (r.passed("message_digest", f"messageDigest equals the {algorithm} of the signed byte ranges")
                   if intact else r.failed("message_digest", r.HASH_FAILURE,
                                           f"messageDigest differs from the {algorithm} of the signed byte ranges: "
                                           f"the signed bytes were changed"))
    mechanism = sig.signer_info["signature_algorithm"]["algorithm"]
    label = "SM2-with-SM3" if mechanism.dotted in (oids.SM2_WITH_SM3, oids.SM2_SIGN) else mechanism.native
    value_step = (r.passed("signature_value", f"{label} signature over the signed attributes verifies")
                  if valid else r.failed("signature_value", r.SIG_CRYPTO_FAILURE,
                                         f"the {label} signature does not verify with the signer certificate's key"))
    return digest_step, value_step


def _claimed_time(sig: EmbeddedPdfSignature) -> datetime | None:
    try:
        moment = sig.self_reported_timestamp
    except Exception:
        return None
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def _cms_revinfo(sig: EmbeddedPdfSignature) -> c.Revinfo:
    revinfo = c.Revinfo()
    signed_attrs = sig.signer_info["signed_attrs"]
    try:
        archival = find_unique_cms_attribute(signed_attrs, "adobe_revocation_info_archival")
        for item in archival["crl"] or []:
            revinfo.crls.append((item, "cms adbe-revocationInfoArchival"))
        for item in archival["ocsp"] or []:
            revinfo.ocsps.append((item, "cms adbe-revocationInfoArchival"))
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        pass
    except Exception:  # noqa: S110 - unreadable archival attribute: no evidence from it
        pass
    try:
        for choice in sig.signed_data["crls"] or []:
            if choice.name == "crl":
                revinfo.crls.append((choice.chosen, "cms SignedData.crls"))
    except (KeyError, TypeError, ValueError):
        pass
    return revinfo


def _read_dss(reader: PdfFileReader) -> c.Revinfo:
    """/DSS certificates, CRLs and OCSP responses, each decoded within pyhanko's per-purpose limits."""
    revinfo = c.Revinfo()
    try:
        dss = reader.root["/DSS"]
    except (KeyError, TypeError):
        return revinfo
    if not isinstance(dss, generic.DictionaryObject):
        return revinfo
    for key, purpose in (("/Certs", DecodePurpose.CERTIFICATE), ("/CRLs", DecodePurpose.CRL),
                         ("/OCSPs", DecodePurpose.OCSP_RESPONSE)):
        try:
            entries = dss.get(key) or []
            entries = list(entries)[:1000]
        except Exception:  # noqa: S112
            continue
        for ref in entries:
            try:
                stream = ref.get_object()
                der = stream.read_data(purpose)
                if key == "/Certs":
                    revinfo.certs.append(x509.Certificate.load(der))
                elif key == "/CRLs":
                    crl = asn1_crl.CertificateList.load(der)
                    crl.native  # noqa: B018
                    revinfo.crls.append((crl, "dss"))
                else:
                    response = asn1_ocsp.OCSPResponse.load(der)
                    response.native  # noqa: B018
                    revinfo.ocsps.append((response, "dss"))
            except (BudgetExceeded, MemoryError):
                raise
            except Exception:  # noqa: S112 - an unreadable entry is no evidence
                continue
    return revinfo


def _in_digests(seal: keys_ses.Seal, cert_der: bytes) -> bool:
    for digest in seal.cert_digests:
        algorithm = digest.algorithm.strip().lower().replace("-", "")
        try:
            if algorithm == "sm3":
                from keys.sm3 import sm3

                if sm3(cert_der) == digest.value:
                    return True
            else:
                import hashlib

                if hashlib.new(algorithm, cert_der).digest() == digest.value:
                    return True
        except ValueError:
            continue
    return False


def _signature_field_names(reader: PdfFileReader) -> set[str]:
    try:
        return {str(name) for name, _value, _ref in enumerate_sig_fields(reader)}
    except Exception:
        return set()


def _widget(reader: PdfFileReader, field_ref) -> dict | None:
    """Where the signature's widget sits: page index, /Rect and the page's /MediaBox (best effort)."""
    try:
        field = field_ref.get_object()
        widget = field
        if "/Rect" not in field and "/Kids" in field:
            widget = field["/Kids"][0].get_object()
        rect = [float(v) for v in widget["/Rect"]]
        page_ref = widget.raw_get("/P") if "/P" in widget else None
        index, box = _find_page(reader, page_ref, field_ref)
        return {"page": index, "rect": rect, "page_box": box,
                "visible": abs(rect[2] - rect[0]) > 0.5 and abs(rect[3] - rect[1]) > 0.5}
    except Exception:
        return None


def _find_page(reader: PdfFileReader, page_ref, widget_ref) -> tuple[int | None, list[float] | None]:
    pages_seen = 0
    stack = [(reader.root.raw_get("/Pages"), None)]
    visited = set()
    while stack and pages_seen < 10_000:
        ref, inherited_box = stack.pop()
        key = (ref.idnum, ref.generation) if isinstance(ref, generic.IndirectObject) else id(ref)
        if key in visited:
            continue
        visited.add(key)
        node = ref.get_object()
        box = node.get("/MediaBox", inherited_box)
        if node.get("/Type") == "/Pages" or "/Kids" in node:
            kids = list(node.get("/Kids", []))
            stack.extend((kid, box) for kid in reversed(kids))
            continue
        index = pages_seen
        pages_seen += 1
        annots = node.get("/Annots") or []
        hit = (isinstance(page_ref, generic.IndirectObject) and isinstance(ref, generic.IndirectObject)
               and (page_ref.idnum, page_ref.generation) == (ref.idnum, ref.generation))
        if not hit and isinstance(widget_ref, generic.IndirectObject):
            for annot in annots.get_object() if isinstance(annots, generic.IndirectObject) else annots:
                if isinstance(annot, generic.IndirectObject) and annot.idnum == widget_ref.idnum:
                    hit = True
                    break
        if hit:
            return index, [float(v) for v in box] if box is not None else None
    return None, None


__all__ = ["BudgetExceeded", "structural_problem", "verify_pdf"]
