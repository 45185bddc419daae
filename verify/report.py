"""Verification reports: named steps, ETSI EN 319 102-1 indications, JSON (``yitong-verify-report/1``).

A step passes or fails with a reason; a failed step carries the indication it implies
(``TOTAL_FAILED`` or ``INDETERMINATE``) and an ETSI sub-indication. A signature's indication is
the worst of its steps (the first failing step in policy order gives the sub-indication); a file's
is the worst of its document steps and its signatures. Nothing passes without at least one step.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from keys.verdict import CheckName, Indication, Step, SubIndication, failed, passed

SCHEMA = "yitong-verify-report/1"

TOTAL_PASSED = Indication.TOTAL_PASSED
TOTAL_FAILED = Indication.TOTAL_FAILED
INDETERMINATE = Indication.INDETERMINATE


def overall(steps: list[Step]) -> tuple[Indication, SubIndication | None]:
    """(indication, sub-indication) of a list of steps; an empty list cannot pass."""
    if not steps:
        return Indication.INDETERMINATE, SubIndication.POLICY_PROCESSING_ERROR
    worst = max(steps, key=lambda s: s.indication.rank)
    if worst.passed:
        return Indication.TOTAL_PASSED, None
    first = next(s for s in steps if s.indication == worst.indication)
    return first.indication, first.sub_indication or SubIndication.GENERIC


def worst(indications: list[tuple[Indication, SubIndication | None]]) -> tuple[Indication, SubIndication | None]:
    if not indications:
        return Indication.INDETERMINATE, SubIndication.POLICY_PROCESSING_ERROR
    top = max(i.rank for i, _ in indications)
    return next(pair for pair in indications if pair[0].rank == top)


def describe(exc: BaseException | None) -> str:
    """An exception as one short line of a step's reason."""
    if exc is None:
        return "unknown error"
    text = str(exc).strip().replace("\n", " ")
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


_PICTURE_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif",
                  "bmp": "image/bmp", "svg": "image/svg+xml"}


def picture_data_uri(picture_type: str, data: bytes) -> str | None:
    """A data: URI for a seal picture a browser can show (PNG/JPEG/GIF/BMP/SVG), else None."""
    kind = (picture_type or "").strip().lower()
    mime = _PICTURE_TYPES.get(kind)
    if mime is None:  # trust the bytes over the label when it says "ofd" etc.
        if data.startswith(b"\x89PNG\r\n\x1a\n"):
            mime = "image/png"
        elif data.startswith(b"\xff\xd8\xff"):
            mime = "image/jpeg"
        elif data[:6] in (b"GIF87a", b"GIF89a"):
            mime = "image/gif"
    if mime is None or mime == "image/svg+xml":
        return None  # SVG can carry script; OFD pictures are not images a browser draws
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


@dataclass
class SignatureReport:
    """What was found about one signature (PDF signature, document timestamp or GB/T 38540 seal)."""

    kind: str  # "pdf-signature" | "document-timestamp" | "ses-signature" | "ses-seal" | "ofd-seal" | "ofd-sign"
    name: str  # the PDF field name, or a label
    steps: list[Step] = field(default_factory=list)
    signer: dict[str, Any] | None = None
    seal: dict[str, Any] | None = None
    signing_time: dict[str, Any] | None = None
    evidence: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    widget: dict[str, Any] | None = None  # page index, rectangle, page size (for the thumbnail)
    deviations: list[dict[str, str]] = field(default_factory=list)  # named vendor deviations this verdict took
    ofd: dict[str, Any] | None = None  # an OFD signature: its files, references and stamps

    def deviate(self, deviation, step: Step | None = None) -> None:
        """Record a named deviation (keys.ses.readings.Deviation) once, with the check it was found in."""
        if deviation is None:
            return
        entry = {**deviation.as_dict(), "check": step.name.value if step is not None else None}
        if entry not in self.deviations:
            self.deviations.append(entry)

    def add(self, step: Step) -> Step:
        self.steps.append(step)
        return step

    @property
    def indication(self) -> tuple[Indication, SubIndication | None]:
        return overall(self.steps)

    @property
    def passed(self) -> bool:
        return self.indication[0] == TOTAL_PASSED

    def step(self, name: CheckName | str) -> Step:
        for item in self.steps:
            if item.name == name:
                return item
        raise KeyError(name)

    def as_dict(self) -> dict[str, Any]:
        indication, sub = self.indication
        out: dict[str, Any] = {"kind": self.kind, "name": self.name, "indication": indication.value,
                               "sub_indication": sub and sub.value, "steps": [s.as_dict() for s in self.steps]}
        out["signer"] = self.signer
        out["seal"] = self.seal
        out["signing_time"] = self.signing_time
        out["evidence"] = self.evidence
        out["warnings"] = self.warnings
        out["widget"] = self.widget
        if self.deviations:
            out["deviations"] = self.deviations
        if self.ofd is not None:
            out["ofd"] = self.ofd
        return out


@dataclass
class Report:
    """The verification report of one file."""

    file: str
    sha256: str
    size: int
    policy: dict[str, Any]
    validation_time: datetime
    trust: dict[str, Any]
    online: bool
    document_steps: list[Step] = field(default_factory=list)
    signatures: list[SignatureReport] = field(default_factory=list)
    format: str = "pdf"  # "pdf" | "ses-signature" | "ses-seal" | "ofd"
    notes: list[str] = field(default_factory=list)
    licence: dict[str, Any] | None = None  # the electronic licence the file carries (verify/licence.py)
    # An OFD's DocInfo CustomDatas (name → text, first of each name), read once when the package was
    # opened (verify/ofd/checks.py) so verify/licence.py need not open the zip again; not in the JSON.
    custom_data: dict[str, str] | None = field(default=None, repr=False)

    @classmethod
    def start(cls, data: bytes, *, name: str, policy, validation_time: datetime, trust, online: bool,
              format: str = "pdf") -> Report:
        return cls(file=name, sha256=hashlib.sha256(data).hexdigest(), size=len(data), policy=policy.as_dict(),
                   validation_time=validation_time, trust=trust.as_dict(), online=online, format=format)

    def add(self, step: Step) -> Step:
        self.document_steps.append(step)
        return step

    @property
    def indication(self) -> tuple[Indication, SubIndication | None]:
        parts = []
        if self.document_steps:
            parts.append(overall(self.document_steps))
        parts.extend(s.indication for s in self.signatures)
        return worst(parts)

    @property
    def passed(self) -> bool:
        return self.indication[0] == TOTAL_PASSED

    def as_dict(self) -> dict[str, Any]:
        indication, sub = self.indication
        return {
            "file": self.file,
            "format": self.format,
            "sha256": self.sha256,
            "size": self.size,
            "indication": indication.value,
            "sub_indication": sub and sub.value,
            "validation_time": iso(self.validation_time),
            "online": self.online,
            "policy": self.policy,
            "trust": self.trust,
            "document_steps": [s.as_dict() for s in self.document_steps],
            "signatures": [s.as_dict() for s in self.signatures],
            "notes": self.notes,
        } | ({"licence": self.licence} if self.licence is not None else {})


def document(reports: list[Report]) -> dict[str, Any]:
    """The top-level JSON document of the CLI and the API."""
    return {"schema": SCHEMA, "files": [r.as_dict() for r in reports]}


__all__ = ["INDETERMINATE", "SCHEMA", "TOTAL_FAILED", "TOTAL_PASSED", "CheckName", "Indication", "Report",
           "SignatureReport", "Step", "SubIndication", "describe", "document", "failed", "iso", "overall", "passed",
           "picture_data_uri", "worst"]
