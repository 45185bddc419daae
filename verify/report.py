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

SCHEMA = "yitong-verify-report/1"

TOTAL_PASSED = "TOTAL_PASSED"
TOTAL_FAILED = "TOTAL_FAILED"
INDETERMINATE = "INDETERMINATE"
_RANK = {TOTAL_PASSED: 0, INDETERMINATE: 1, TOTAL_FAILED: 2}

# ETSI EN 319 102-1 §5.1.3 sub-indications used here.
FORMAT_FAILURE = "FORMAT_FAILURE"
HASH_FAILURE = "HASH_FAILURE"
SIG_CRYPTO_FAILURE = "SIG_CRYPTO_FAILURE"
REVOKED = "REVOKED"
EXPIRED = "EXPIRED"
NOT_YET_VALID = "NOT_YET_VALID"
SIG_CONSTRAINTS_FAILURE = "SIG_CONSTRAINTS_FAILURE"
CHAIN_CONSTRAINTS_FAILURE = "CHAIN_CONSTRAINTS_FAILURE"
CERTIFICATE_CHAIN_GENERAL_FAILURE = "CERTIFICATE_CHAIN_GENERAL_FAILURE"
CRYPTO_CONSTRAINTS_FAILURE_NO_POE = "CRYPTO_CONSTRAINTS_FAILURE_NO_POE"
NO_CERTIFICATE_CHAIN_FOUND = "NO_CERTIFICATE_CHAIN_FOUND"
NO_SIGNING_CERTIFICATE_FOUND = "NO_SIGNING_CERTIFICATE_FOUND"
REVOKED_NO_POE = "REVOKED_NO_POE"
OUT_OF_BOUNDS_NO_POE = "OUT_OF_BOUNDS_NO_POE"
TRY_LATER = "TRY_LATER"
POLICY_PROCESSING_ERROR = "POLICY_PROCESSING_ERROR"
TIMESTAMP_ORDER_FAILURE = "TIMESTAMP_ORDER_FAILURE"
GENERIC = "GENERIC"

FAILED_SUBINDICATIONS = frozenset({FORMAT_FAILURE, HASH_FAILURE, SIG_CRYPTO_FAILURE, REVOKED, EXPIRED,
                                   NOT_YET_VALID})
INDETERMINATE_SUBINDICATIONS = frozenset({
    SIG_CONSTRAINTS_FAILURE, CHAIN_CONSTRAINTS_FAILURE, CERTIFICATE_CHAIN_GENERAL_FAILURE,
    CRYPTO_CONSTRAINTS_FAILURE_NO_POE, NO_CERTIFICATE_CHAIN_FOUND, NO_SIGNING_CERTIFICATE_FOUND, REVOKED_NO_POE,
    OUT_OF_BOUNDS_NO_POE, TRY_LATER, POLICY_PROCESSING_ERROR, TIMESTAMP_ORDER_FAILURE, GENERIC})


@dataclass(frozen=True)
class Step:
    """One named check: passed, or failed with the indication and sub-indication it implies."""

    name: str
    passed: bool
    reason: str
    sub_indication: str | None = None

    @property
    def indication(self) -> str:
        if self.passed:
            return TOTAL_PASSED
        return TOTAL_FAILED if self.sub_indication in FAILED_SUBINDICATIONS else INDETERMINATE

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "passed": self.passed, "reason": self.reason}
        if not self.passed:
            out["indication"] = self.indication
            out["sub_indication"] = self.sub_indication or GENERIC
        return out


def passed(name: str, reason: str) -> Step:
    return Step(name, True, reason)


def failed(name: str, sub_indication: str, reason: str) -> Step:
    return Step(name, False, reason, sub_indication)


def overall(steps: list[Step]) -> tuple[str, str | None]:
    """(indication, sub-indication) of a list of steps; an empty list cannot pass."""
    if not steps:
        return INDETERMINATE, POLICY_PROCESSING_ERROR
    worst = max(steps, key=lambda s: _RANK[s.indication])
    if worst.passed:
        return TOTAL_PASSED, None
    first = next(s for s in steps if s.indication == worst.indication)
    return first.indication, first.sub_indication or GENERIC


def worst(indications: list[tuple[str, str | None]]) -> tuple[str, str | None]:
    if not indications:
        return INDETERMINATE, POLICY_PROCESSING_ERROR
    top = max(_RANK[i] for i, _ in indications)
    return next(pair for pair in indications if _RANK[pair[0]] == top)


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

    kind: str  # "pdf-signature" | "document-timestamp" | "ses-signature" | "ses-seal"
    name: str  # the PDF field name, or a label
    steps: list[Step] = field(default_factory=list)
    signer: dict[str, Any] | None = None
    seal: dict[str, Any] | None = None
    signing_time: dict[str, Any] | None = None
    evidence: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    widget: dict[str, Any] | None = None  # page index, rectangle, page size (for the thumbnail)

    def add(self, step: Step) -> Step:
        self.steps.append(step)
        return step

    @property
    def indication(self) -> tuple[str, str | None]:
        return overall(self.steps)

    @property
    def passed(self) -> bool:
        return self.indication[0] == TOTAL_PASSED

    def step(self, name: str) -> Step:
        for item in self.steps:
            if item.name == name:
                return item
        raise KeyError(name)

    def as_dict(self) -> dict[str, Any]:
        indication, sub = self.indication
        out: dict[str, Any] = {"kind": self.kind, "name": self.name, "indication": indication,
                               "sub_indication": sub, "steps": [s.as_dict() for s in self.steps]}
        out["signer"] = self.signer
        out["seal"] = self.seal
        out["signing_time"] = self.signing_time
        out["evidence"] = self.evidence
        out["warnings"] = self.warnings
        out["widget"] = self.widget
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
    format: str = "pdf"  # "pdf" | "ses-signature" | "ses-seal"
    notes: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, data: bytes, *, name: str, policy, validation_time: datetime, trust, online: bool,
              format: str = "pdf") -> Report:
        return cls(file=name, sha256=hashlib.sha256(data).hexdigest(), size=len(data), policy=policy.as_dict(),
                   validation_time=validation_time, trust=trust.as_dict(), online=online, format=format)

    def add(self, step: Step) -> Step:
        self.document_steps.append(step)
        return step

    @property
    def indication(self) -> tuple[str, str | None]:
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
            "indication": indication,
            "sub_indication": sub,
            "validation_time": iso(self.validation_time),
            "online": self.online,
            "policy": self.policy,
            "trust": self.trust,
            "document_steps": [s.as_dict() for s in self.document_steps],
            "signatures": [s.as_dict() for s in self.signatures],
            "notes": self.notes,
        }


def document(reports: list[Report]) -> dict[str, Any]:
    """The top-level JSON document of the CLI and the API."""
    return {"schema": SCHEMA, "files": [r.as_dict() for r in reports]}
