"""The named checks of an OFD document and of each of its signatures (see verify/ofd/__init__.py)."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from keys import ses as keys_ses
from keys.digests import digest
from keys.ses import readings
from keys.sm3 import sm3
from keys.verdict import CheckName as N
from keys.verdict import SubIndication as Sub
from ofd import OfdError, OfdLimits, OfdPackage
from ofd.package import Document, Signature, parse_box, walk
from verify import certs as c
from verify import report as r
from verify import ses as vses
from verify.checks import Check, Job, precondition, run_checks
from verify.ofd import sign as osign
from verify.policy import Policy
from verify.trust import TrustBundle

SM3_METHODS = {"1.2.156.10197.1.401", "1.2.156.10197.1.401.1", "sm3"}
SM3_WITH_Z_METHOD = "1.2.156.10197.1.401.2"
OTHER_METHODS = {"sha256": "sha256", "sha-256": "sha256", "2.16.840.1.101.3.4.2.1": "sha256"}
TOLERANCE_MM = 1.0  # a stamp may overhang the page by this much (rounding of producers)


def limits_of(policy: Policy) -> OfdLimits:
    limits = policy.limits
    return OfdLimits(max_bytes=limits.max_bytes, max_entries=limits.max_entries,
                     max_entry_bytes=min(limits.max_stream_bytes, limits.max_inflated_bytes),
                     max_total_bytes=limits.max_inflated_bytes, max_ratio=limits.max_ratio)


def custom_data(root) -> dict[str, str]:
    """OFD.xml's DocInfo CustomDatas: name → text (the first of each name)."""
    values: dict[str, str] = {}
    for element in walk(root, "CustomData"):
        name = element.get("Name")
        if name and name not in values:
            values[name] = (element.text or "").strip()
    return values


def _slash(name: str) -> str:
    return "/" + name


class OfdJob(Job):
    """One OFD being verified: the document's checks, then each signature's, in Signatures.xml order."""

    def __init__(self, data: bytes, trust: TrustBundle, policy: Policy, validation_time: datetime, online: bool,
                 report: r.Report, supplied: c.Revinfo | None = None) -> None:
        super().__init__(data, trust, policy, validation_time, online, report, supplied)
        self.package: OfdPackage | None = None
        self.document: Document | None = None
        self.signatures: list[SignatureContext] = []

    async def run(self) -> None:
        policy, add = self.policy, self.report.add
        if not precondition(self._open(), policy, add).passed:
            return
        try:
            entries = self.package.signature_entries()
        except OfdError as exc:
            precondition(r.failed(N.SIGNATURES_PRESENT, Sub.FORMAT_FAILURE, f"the signature list cannot be read: "
                                                                              f"{exc}"), policy, add)
            return
        if not entries:
            precondition(r.failed(N.SIGNATURES_PRESENT, Sub.FORMAT_FAILURE,
                                  "no signature: the document is not sealed or signed (OFD.xml names no "
                                  "Signatures.xml, or it lists none)"), policy, add)
            return
        precondition(r.passed(N.SIGNATURES_PRESENT, f"{len(entries)} signature(s) in "
                                                    f"{_slash(self.document.signatures)}"), policy, add)
        if len(entries) > policy.limits.max_signatures:
            add(r.failed(N.SIGNATURES_PRESENT, Sub.FORMAT_FAILURE, f"{len(entries)} signatures, above the limit of "
                                                                   f"{policy.limits.max_signatures}"))
            return
        self.signatures = [SignatureContext(self, index, entry) for index, entry in enumerate(entries)]
        for context in self.signatures:
            self.report.signatures.append(context.report)
            try:
                await context.run()
            except Exception as exc:  # every exception becomes a verdict
                context.report.add(r.failed(N.INTERNAL, Sub.GENERIC, f"verification stopped: {r.describe(exc)}"))

    def _open(self) -> r.Step:
        try:
            self.package = OfdPackage.open(self.data, limits=limits_of(self.policy))
            self.document = self.package.document()
            self.report.custom_data = custom_data(self.package.xml("OFD.xml"))
        except OfdError as exc:
            return r.failed(N.OFD_PACKAGE, Sub.FORMAT_FAILURE, str(exc))
        document = self.document
        if document.bodies > 1:
            self.report.notes.append(f"OFD.xml holds {document.bodies} documents (DocBody); only the first, "
                                     f"{_slash(document.root)}, and its signatures are verified")
        if document.missing:
            self.report.notes.append("the document names files the package does not hold: "
                                     + ", ".join(_slash(m) for m in document.missing[:10]))
        return r.passed(N.OFD_PACKAGE, f"OFD package of {len(self.package.names())} files opens safely; "
                                       f"{_slash(document.root)} has {len(document.pages)} page(s)")


@dataclass(eq=False)
class SignatureContext:
    """One Signature of Signatures.xml and what its checks have found so far."""

    job: OfdJob
    index: int
    entry: object  # ofd.package.SignatureEntry
    signature: Signature | None = None
    value: bytes | None = None
    value_format: str | None = None  # "ses" | "pkcs7" | "sm2"
    ses: keys_ses.SealSignature | None = None
    report: r.SignatureReport = field(init=False)

    def __post_init__(self) -> None:
        kind = "ofd-sign" if self.entry.type == "Sign" else "ofd-seal"
        folder = posixpath.basename(posixpath.dirname(self.entry.path)) or self.entry.path
        self.report = r.SignatureReport(kind, f"{folder} (ID {self.entry.id})" if self.entry.id else folder)

    @property
    def package(self) -> OfdPackage:
        return self.job.package

    @property
    def policy(self) -> Policy:
        return self.job.policy

    @cached_property
    def protected(self) -> set[str]:
        return {ref.path for ref in self.signature.references} if self.signature is not None else set()

    def signer_cert(self) -> bytes | None:
        if self.ses is not None:
            return self.ses.signer_cert
        if self.value_format == "pkcs7":
            parsed = osign.parse_pkcs7(self.value)
            return parsed.signer_cert if parsed is not None else None
        return None

    async def run(self) -> None:
        policy, add = self.policy, self.report.add
        if not precondition(self._parse(), policy, add).passed:
            return
        await run_checks(PACKAGE_CHECKS, self, policy, add)
        if self.value_format == "ses":
            await self._ses()
        else:
            await osign.run(self)

    def _parse(self) -> r.Step:
        try:
            self.signature = self.package.signature(self.entry)
        except OfdError as exc:
            return r.failed(N.SIGNATURE_FILE, Sub.FORMAT_FAILURE, str(exc))
        sig = self.signature
        self.report.ofd = {
            "id": self.entry.id, "type": self.entry.type, "signature_xml": _slash(sig.path),
            "signed_value": _slash(sig.signed_value) if sig.signed_value else None,
            "seal_file": _slash(sig.seal) if sig.seal else None,
            "provider": ({"name": sig.provider.name, "version": sig.provider.version,
                          "company": sig.provider.company} if sig.provider else None),
            "signature_method": sig.signature_method, "signature_datetime": sig.signature_datetime,
            "check_method": sig.check_method, "value_format": None, "references": [], "stamps": [],
        }
        if sig.signed_value is None:
            return r.failed(N.SIGNATURE_FILE, Sub.FORMAT_FAILURE, f"{_slash(sig.path)} names no SignedValue")
        if sig.signed_value not in self.package:
            return r.failed(N.SIGNATURE_FILE, Sub.FORMAT_FAILURE, f"the signed value {_slash(sig.signed_value)} "
                                                                  f"is not in the package")
        self.value = self.package.read(sig.signed_value)
        self.value_format = osign.value_format(self.value)
        self.report.ofd["value_format"] = self.value_format
        if self.value_format == "ses":
            self.ses = keys_ses.parse_signature(self.value)
        elif self.entry.type != "Sign":
            return r.failed(N.SIGNATURE_FILE, Sub.FORMAT_FAILURE,
                            f"a Type=\"Seal\" signature's {_slash(sig.signed_value)} must be a GB/T 38540 "
                            f"SES_Signature; it is {self.value_format or 'unreadable'}")
        elif self.value_format is None:
            return r.failed(N.SIGNATURE_FILE, Sub.FORMAT_FAILURE,
                            f"{_slash(sig.signed_value)} is neither an SES_Signature, a PKCS#7 SignedData nor an "
                            f"SM2 signature value")
        return r.passed(N.SIGNATURE_FILE, f"{_slash(sig.path)} ({sig.type}, {len(sig.references)} references) "
                                          f"and its {osign.FORMAT_NAMES[self.value_format]}")

    async def _ses(self) -> None:
        policy, sig = self.policy, self.report
        signature = self.ses
        described = ("GB/T 38540-2020 SES_Signature V4" if signature.version == 4
                     else f"GM/T 0031-2014 SES_Signature V{signature.version}")
        precondition(r.passed(N.SES_STRUCTURE, described), policy, sig.add)
        context = vses.SesContext(sig, self.job.trust, self.job.online, self.job.validation_time, signature.seal,
                                  signature, self.signature.raw, supplied=self.job.supplied)
        sig.seal = vses.describe_seal(signature.seal)
        if context.signer is not None:
            sig.signer = c.describe_signer(context.signer)
        await context.timing()
        if not signature.has_timestamp:
            sig.warnings.append("no time-stamp: the signing time is the signer's claim (timeInfo), not proven")
        context.ofd = self  # the OFD checks below need the package and the Signature.xml model
        await run_checks(SES_CHECKS, context, policy, sig.add)

    # --- what the checks need ---

    def check_digest(self):
        """(function file bytes -> digest, deviation or None) for this signature's CheckMethod; OfdError if unknown."""
        method = (self.signature.check_method or "").strip()
        lowered = method.lower()
        if lowered in SM3_METHODS:
            return (lambda data: digest("sm3", data)), None
        if lowered in OTHER_METHODS:
            algorithm = OTHER_METHODS[lowered]
            return (lambda data: digest(algorithm, data)), None
        if lowered == SM3_WITH_Z_METHOD:
            cert = self.signer_cert()
            if cert is None:
                raise OfdError(f"CheckMethod {method} (SM3 with the signer's Z) needs a signer certificate, and "
                               f"this signature carries none")
            key = readings.public_key(cert)
            return (lambda data: readings.z_digest(key, data)), readings.SM3_WITH_Z
        if not method:
            raise OfdError("References has no CheckMethod (the standard's default, MD5, is not accepted)")
        raise OfdError(f"unknown CheckMethod {method!r}")


# --- package checks (every signature) ---

def references(context: SignatureContext) -> r.Step:
    sig = context.signature
    if not sig.references:
        return r.failed(N.REFERENCES, Sub.FORMAT_FAILURE, "Signature.xml lists no Reference: it protects nothing")
    try:
        function, deviation = context.check_digest()
    except (OfdError, ValueError, TypeError) as exc:
        return r.failed(N.REFERENCES, Sub.FORMAT_FAILURE if "unknown" in str(exc) or "MD5" in str(exc)
                        else Sub.SIG_CONSTRAINTS_FAILURE, str(exc))
    results, changed, missing, unreadable = [], [], [], []
    for ref in sig.references:
        problem = None
        if ref.path not in context.package:
            problem = "missing"
            missing.append(_slash(ref.path))
        elif ref.check_value is None:
            problem = "CheckValue is not base64"
            unreadable.append(_slash(ref.path))
        elif function(context.package.read(ref.path)) != ref.check_value:
            problem = "changed"
            changed.append(_slash(ref.path))
        results.append({"file": _slash(ref.path), "matches": problem is None, "problem": problem})
    context.report.ofd["references"] = results
    total, good = len(results), sum(1 for item in results if item["matches"])
    method = sig.check_method
    if good == total:
        step = r.passed(N.REFERENCES, f"{good} of {total} references match ({method})")
        context.report.deviate(deviation, step)
        return step
    parts = []
    if changed:
        parts.append("changed after signing: " + ", ".join(changed))
    if missing:
        parts.append("missing from the package: " + ", ".join(missing))
    if unreadable:
        parts.append("unreadable CheckValue: " + ", ".join(unreadable))
    step = r.failed(N.REFERENCES, Sub.HASH_FAILURE, f"{good} of {total} references match ({method}); "
                                                    + "; ".join(parts))
    context.report.deviate(deviation, step)
    return step


def unprotected_content(context: SignatureContext) -> r.Step:
    document = context.job.document
    shown = [name for name in document.shown if name in context.package]
    loose = [name for name in shown if name not in context.protected]
    if loose:
        return r.failed(N.UNPROTECTED_CONTENT, Sub.HASH_FAILURE,
                        "files that change what the document shows are not protected by this signature (added or "
                        "replaceable after signing): " + ", ".join(_slash(n) for n in loose[:20]))
    return r.passed(N.UNPROTECTED_CONTENT, f"all {len(shown)} files that make up the pages (Document.xml, pages, "
                                           f"templates, annotations, resources) are protected")


def later_signatures(context: SignatureContext) -> r.Step:
    later = context.job.signatures[context.index + 1:]
    weaker = []
    for other in later:
        if other.signature is None:
            try:
                other.signature = context.package.signature(other.entry)
            except OfdError:
                continue
        lacking = context.protected - other.protected
        if lacking:
            weaker.append(f"{other.report.name} does not protect " + ", ".join(_slash(n) for n in sorted(lacking)[:8]))
    if weaker:
        return r.failed(N.LATER_SIGNATURES, Sub.SIG_CONSTRAINTS_FAILURE,
                        "a signature added after this one protects less than it: " + "; ".join(weaker))
    if not later:
        return r.passed(N.LATER_SIGNATURES, "no signature was added after this one")
    return r.passed(N.LATER_SIGNATURES, f"the {len(later)} signature(s) added after this one protect at least what "
                                        f"it protects")


def stamp_annot(context: SignatureContext) -> r.Step | None:
    sig, document = context.signature, context.job.document
    if not sig.stamp_annots:
        if context.entry.type == "Sign":
            return None
        context.report.warnings.append("the seal has no StampAnnot: it is not shown on any page")
        return r.passed(N.STAMP_ANNOT, "no StampAnnot: a seal without a picture on the page")
    stamps, problems = [], []
    for stamp in sig.stamp_annots:
        page = document.page_by_id(stamp.page_ref)
        entry = {"id": stamp.id, "page_ref": stamp.page_ref, "page": page.index if page else None,
                 "boundary_mm": list(stamp.boundary) if stamp.boundary else None}
        stamps.append(entry)
        if page is None:
            problems.append(f"StampAnnot {stamp.id} names page ID {stamp.page_ref!r}, which the document lacks")
            continue
        if stamp.boundary is None:
            problems.append(f"StampAnnot {stamp.id} has no readable Boundary")
            continue
        x, y, w, h = stamp.boundary
        clip = parse_box(stamp.clip)
        if clip is not None:  # only the Clip part of the Boundary shows (riding seams: ofdrw's RidingStampPos)
            x, y, w, h = x + clip[0], y + clip[1], clip[2], clip[3]
        box = page.box or (0.0, 0.0, 210.0, 297.0)
        if w <= 0 or h <= 0 or x < -TOLERANCE_MM or y < -TOLERANCE_MM or x + w > box[2] + TOLERANCE_MM \
                or y + h > box[3] + TOLERANCE_MM:
            problems.append(f"StampAnnot {stamp.id} ({x} {y} {w} {h} mm) is not inside page {page.index + 1} "
                            f"({box[2]}×{box[3]} mm)")
    context.report.ofd["stamps"] = stamps
    first = next((s for s in stamps if s["page"] is not None and s["boundary_mm"]), None)
    if first is not None:
        page = document.page_by_id(first["page_ref"])
        box = page.box or (0.0, 0.0, 210.0, 297.0)
        x, y, w, h = first["boundary_mm"]
        # the PDF widget convention of verify/render.py: page box and rect with the origin bottom-left
        context.report.widget = {"page": first["page"], "page_box": [0, 0, box[2], box[3]],
                                 "rect": [x, box[3] - y - h, x + w, box[3] - y], "visible": True}
    if problems:
        return r.failed(N.STAMP_ANNOT, Sub.FORMAT_FAILURE, "; ".join(problems))
    where = ", ".join(f"page {s['page'] + 1}" for s in stamps)
    return r.passed(N.STAMP_ANNOT, f"{len(stamps)} stamp(s) inside the page: {where}")


def seal_file(context: SignatureContext) -> r.Step | None:
    sig = context.signature
    if sig.seal is None or context.ses is None:
        return None
    if sig.seal not in context.package:
        return r.failed(N.SEAL_FILE, Sub.FORMAT_FAILURE, f"the seal file {_slash(sig.seal)} is not in the package")
    if context.package.read(sig.seal) != context.ses.seal.der:
        return r.failed(N.SEAL_FILE, Sub.HASH_FAILURE, f"{_slash(sig.seal)} is not the seal that signed (the seal "
                                                       f"inside {_slash(sig.signed_value)} differs)")
    return r.passed(N.SEAL_FILE, f"{_slash(sig.seal)} is the seal inside the signed value")


PACKAGE_CHECKS = (
    Check(N.REFERENCES, references),
    Check(N.UNPROTECTED_CONTENT, unprotected_content),
    Check(N.LATER_SIGNATURES, later_signatures),
    Check(N.STAMP_ANNOT, stamp_annot),
    Check(N.SEAL_FILE, seal_file),
)


# --- the SES_Signature of a Seal (V4 or V1): verify/ses.py's checks, dataHash over Signature.xml ---

def ses_data_hash(context: vses.SesContext) -> r.Step:
    signature, xml = context.signature, context.document
    ofd_context: SignatureContext = context.ofd
    if sm3(xml) == signature.data_hash:
        return r.passed(N.DATA_HASH, "SM3 of Signature.xml equals dataHash")
    if (ofd_context.signature.check_method or "").strip() == SM3_WITH_Z_METHOD:
        try:
            key = readings.public_key(signature.signer_cert)
            if readings.z_digest(key, xml) == signature.data_hash:
                step = r.passed(N.DATA_HASH, f"SM3(Z ‖ Signature.xml) equals dataHash (named deviation "
                                             f"{readings.SM3_WITH_Z.name})")
                context.report.deviate(readings.SM3_WITH_Z, step)
                return step
        except Exception:  # noqa: S110 - an unusable key is reported by the signature check
            pass
    return r.failed(N.DATA_HASH, Sub.HASH_FAILURE,
                    "dataHash is not the SM3 of this Signature.xml: what it describes (the protected files, the "
                    "stamp's page and position) changed after signing, or the signed value comes from another "
                    "signature")


SES_CHECKS = tuple(Check(N.DATA_HASH, ses_data_hash) if check.name == N.DATA_HASH else check
                   for check in vses.SES_SIGNATURE)

__all__ = ["PACKAGE_CHECKS", "SES_CHECKS", "OfdJob", "SignatureContext", "limits_of"]
