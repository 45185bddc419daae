"""Verification policies: which named checks run, and the few knobs of the stricter PDF rules.

A policy is a list of check names (:class:`keys.verdict.CheckName`): each path (PDF document,
PDF signature, GB/T 38540 signature or seal) runs the checks of its own the policy names, in
the path's order, and reports every one pass or fail (verify/checks.py). Limits bound hostile
input. An empty policy cannot pass: the report says POLICY_PROCESSING_ERROR.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from keys.verdict import CheckName as N

# Document-level checks of a PDF (each runs once per file).
DOCUMENT_STEPS = (N.PARSE, N.TRAILING_BYTES, N.SIGNATURES_PRESENT, N.SIGNATURE_REFERENCES, N.BYTE_RANGES_DISJOINT)

# Checks of a PDF signature, in the order they are reported (a document time-stamp runs those that apply).
SIGNATURE_STEPS = (N.CMS_STRUCTURE, N.BYTE_RANGE, N.COVERAGE, N.MESSAGE_DIGEST, N.SIGNATURE_VALUE, N.TIMESTAMP,
                   N.CERTIFICATE_CHAIN, N.VALIDITY_AT_SIGNING_TIME, N.REVOCATION, N.KEY_USAGE, N.SEAL,
                   N.MODIFICATIONS)

# Checks of a GB/T 38540 SES_Signature / SESeal (GB/T 38540 §7.3, as DESIGN.md lists it).
SES_STEPS = (N.SES_STRUCTURE, N.TIMESTAMP, N.SIGNATURE, N.DATA_HASH, N.SEAL_MAKER_SIGNATURE, N.SIGNER_IN_CERT_LIST,
             N.SEAL_VALID_AT_SIGNING_TIME, N.CERTIFICATE_CHAIN, N.REVOCATION, N.VALIDITY_AT_SIGNING_TIME,
             N.MAKER_CERTIFICATE_CHAIN, N.MAKER_REVOCATION)

# An OFD document (GB/T 33190) once per file, then each signature of its Signatures.xml: the package's own
# checks, then the checks of its value (GB/T 38540 SES_Signature: SES_STEPS; GM/T 0010 PKCS#7 or a bare SM2
# value: CMS_STRUCTURE, SIGNATURE, DATA_HASH and the chain steps).
OFD_DOCUMENT_STEPS = (N.OFD_PACKAGE, N.SIGNATURES_PRESENT)
OFD_SIGNATURE_STEPS = (N.SIGNATURE_FILE, N.REFERENCES, N.UNPROTECTED_CONTENT, N.LATER_SIGNATURES, N.STAMP_ANNOT,
                       N.SEAL_FILE)


@dataclass(frozen=True)
class Limits:
    """Bounds for hostile input (decompression bombs, huge object counts, loops, deep nesting)."""

    max_bytes: int = 64 * 1024 * 1024
    max_objects: int = 500_000
    max_revisions: int = 500
    max_signatures: int = 100
    max_stream_bytes: int = 64 * 1024 * 1024  # one decoded stream
    seconds: float = 30.0  # per document, in any thread (keys/budget.py)
    max_token_bytes: int = 256 * 1024  # a run of digits longer than this is refused before parsing
    # an OFD package (ofd.OfdLimits): zip entries, all entries inflated, inflated/compressed ratio of one entry
    max_entries: int = 10_000
    max_inflated_bytes: int = 64 * 1024 * 1024
    max_ratio: int = 100


@dataclass(frozen=True)
class Policy:
    name: str
    steps: tuple[N, ...]
    # pyhanko's default accepts form filling after signing (and so a Shadow "replace via form field");
    # ours fails it, and annotation changes, unless a policy opts in.
    allow_form_filling: bool = False
    allow_annotations: bool = False
    require_seal: bool = False  # fail a PDF signature that carries no SESeal
    limits: Limits = field(default_factory=Limits)

    def __post_init__(self) -> None:  # an undeclared name is an error, not a check that silently never runs
        object.__setattr__(self, "steps", tuple(dict.fromkeys(N(step) for step in self.steps)))

    def runs(self, step: N | str) -> bool:
        return step in self.steps

    def select(self, checks: Iterable):
        """The checks of a path this policy runs, in the path's order."""
        return [check for check in checks if check.name in self.steps]

    def with_steps(self, *steps: N | str, name: str | None = None) -> Policy:
        return replace(self, steps=tuple(steps), name=name or f"{self.name}+custom")

    def as_dict(self) -> dict:
        return {"name": self.name, "steps": [step.value for step in self.steps],
                "allow_form_filling": self.allow_form_filling, "allow_annotations": self.allow_annotations,
                "require_seal": self.require_seal}


DEFAULT = Policy("yitong-default/1", DOCUMENT_STEPS + SIGNATURE_STEPS + SES_STEPS + OFD_DOCUMENT_STEPS
                 + OFD_SIGNATURE_STEPS)
