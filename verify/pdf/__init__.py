"""PDF signature verification with the stricter policy of DESIGN.md ("PDF verification policy").

pyhanko reads the file, extracts signatures, computes digests, evaluates coverage and runs its
difference analysis; pyhanko-certvalidator builds and validates paths. On top of that we check
what the known attacks (USF/ISA/SWA, Shadow hide/replace, EAA/SSA) exploit: the exact ByteRange
shape and gap, bytes after the last revision, a signature dictionary referenced twice,
overlapping ByteRanges, and form filling / annotations after a seal (FAIL unless the policy
allows them). Every exception becomes a verdict.

The checks live by job: ``document`` (parse, structure, trailing bytes, references, disjoint
ranges), ``signature`` (CMS, byte range, coverage, integrity, time-stamp, certificate, seal),
``modifications`` (difference analysis), ``dss`` (revocation evidence, document time-stamp POE)
and ``budget`` (the time limit). This module runs them in order.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pyhanko.pdf_utils.reader import PdfFileReader

from keys.budget import BudgetExceeded
from keys.verdict import CheckName as N
from keys.verdict import SubIndication as Sub
from verify import certs as c
from verify import report as r
from verify.checks import Job, precondition, run_checks
from verify.pdf import document as d
from verify.pdf import signature as s
from verify.pdf.budget import run_within
from verify.pdf.document import structural_problem
from verify.pdf.dss import apply_document_timestamps, read_dss, supplied_revinfo
from verify.policy import DEFAULT, Policy
from verify.trust import TrustBundle, as_trust


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
        report.add(r.failed(N.POLICY, Sub.POLICY_PROCESSING_ERROR, "the policy has no steps: nothing can pass"))
        return report
    job = PdfJob(data, trust, policy, validation_time, online, report, supplied_revinfo(crls, ocsps))
    run_within(job.run, policy.limits.seconds, report)
    return report


class PdfJob(Job):
    """One PDF being verified: the document checks, then each signature's, then document time-stamp POE."""

    def __init__(self, data: bytes, trust: TrustBundle, policy: Policy, validation_time: datetime, online: bool,
                 report: r.Report, supplied: c.Revinfo) -> None:
        super().__init__(data, trust, policy, validation_time, online, report, supplied)
        self.reader: PdfFileReader | None = None
        self._dss: c.Revinfo | None = None
        self.stamps: list[tuple[int, r.SignatureReport]] = []  # document time-stamps: (signed revision, report)
        self.pending: list = []  # unproven signatures: (revision, report, signer cert, path, revinfo)

    def dss(self) -> c.Revinfo:
        if self._dss is None:
            self._dss = read_dss(self.reader)
        return self._dss

    async def run(self) -> None:
        policy, add = self.policy, self.report.add
        document = d.Document(self.data, policy)
        if not precondition(d.parse(document), policy, add).passed:
            return
        self.reader = document.reader
        await run_checks(d.AFTER_PARSE, document, policy, add)
        if not precondition(d.signatures_present(document), policy, add).passed:
            return
        await run_checks(d.AFTER_SIGNATURES, document, policy, add)
        embedded = sorted(document.embedded(),
                          key=lambda item: item[1].signed_revision if item[1] is not None else 1 << 30)
        for fq_name, sig, field_ref, error in embedded:
            kind = "document-timestamp" if sig is not None and sig.sig_object_type == "/DocTimeStamp" else \
                "pdf-signature"
            report = r.SignatureReport(kind, str(fq_name))
            self.report.signatures.append(report)
            try:
                if sig is None:
                    report.add(r.failed(N.CMS_STRUCTURE, Sub.FORMAT_FAILURE,
                                        f"the signature cannot be read: {r.describe(error)}"))
                    continue
                report.widget = d.widget(self.reader, field_ref)
                await self._signature(s.SignatureContext(self, sig, report))
            except d.FATAL:
                raise
            except Exception as exc:
                report.add(r.failed(N.INTERNAL, Sub.GENERIC, f"verification stopped: {r.describe(exc)}"))
        apply_document_timestamps(self.stamps, self.pending)

    async def _signature(self, context: s.SignatureContext) -> None:
        policy, report = self.policy, context.report
        if not precondition(s.cms_structure(context), policy, report.add).passed:
            return
        if report.kind == "document-timestamp":
            await run_checks(s.DOCUMENT_TIMESTAMP, context, policy, report.add)
            await context.token()  # its time is what it proves for earlier signatures, whatever the policy shows
            self.stamps.append((context.sig.signed_revision, report))
            return
        steps = await run_checks(s.PDF_SIGNATURE, context, policy, report.add)
        await context.signing()  # the report states the signing time whatever the policy selects
        if not steps and not policy.runs(N.CMS_STRUCTURE):
            report.add(r.failed(N.POLICY, Sub.POLICY_PROCESSING_ERROR, "the policy selects none of the signature "
                                                                       "steps"))


__all__ = ["BudgetExceeded", "PdfJob", "structural_problem", "verify_pdf"]
