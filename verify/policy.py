"""Verification policies: which named steps run, and the few knobs of the stricter PDF rules.

A policy is a list of step names (run in that order, every one reported pass or fail) plus
limits for hostile input. An empty policy cannot pass: the report says POLICY_PROCESSING_ERROR.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

# Document-level steps of a PDF (each runs once per file).
DOCUMENT_STEPS = (
    "parse",                 # the PDF opens within the limits; every revision is parsed
    "trailing_bytes",        # nothing after the last revision's %%EOF but whitespace
    "signatures_present",    # at least one signature ("no signature" fails)
    "signature_references",  # no signature dictionary referenced by two fields
    "byte_ranges_disjoint",  # no two signatures' ByteRanges overlap
)

# Per-signature steps of a PDF signature, in the order they are reported.
SIGNATURE_STEPS = (
    "cms_structure",             # /Type /Sig, SubFilter, SignedData with one SignerInfo and its certificate
    "byte_range",                # exactly [0 a b c], the gap exactly this /Contents hex string, inside the file
    "coverage",                  # the signed revision's xref, trailer and %%EOF are inside the signed bytes
    "message_digest",            # messageDigest equals the digest of the signed byte ranges
    "signature_value",           # SM2-with-SM3 / ECDSA / RSA signature over the signed attributes
    "timestamp",                 # the RFC 3161 signature time-stamp token, if there is one
    "certificate_chain",         # a path to one of the trust anchors
    "validity_at_signing_time",  # every certificate of the path valid at the (proven or claimed) signing time
    "revocation",                # embedded DSS / CMS revocation info (fetched only when online)
    "key_usage",                 # digitalSignature or nonRepudiation; not a TSA/OCSP-only certificate
    "seal",                      # the GB/T 38540 SESeal carried in the signature (DESIGN.md)
    "modifications",             # what changed after the signed revision
)

# Steps of a GB/T 38540 SES_Signature / SESeal (GB/T 38540 §7.3, as DESIGN.md lists it).
SES_STEPS = (
    "ses_structure",
    "signature_value",
    "data_hash",
    "seal_maker_signature",
    "signer_in_cert_list",
    "seal_valid_at_signing_time",
    "certificate_chain",
    "maker_certificate_chain",
    "timestamp",
)


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


@dataclass(frozen=True)
class Policy:
    name: str
    steps: tuple[str, ...]
    # pyhanko's default accepts form filling after signing (and so a Shadow "replace via form field");
    # ours fails it, and annotation changes, unless a policy opts in.
    allow_form_filling: bool = False
    allow_annotations: bool = False
    require_seal: bool = False  # fail a PDF signature that carries no SESeal
    limits: Limits = field(default_factory=Limits)

    def runs(self, step: str) -> bool:
        return step in self.steps

    def with_steps(self, *steps: str, name: str | None = None) -> Policy:
        return replace(self, steps=tuple(steps), name=name or f"{self.name}+custom")

    def as_dict(self) -> dict:
        return {"name": self.name, "steps": list(self.steps), "allow_form_filling": self.allow_form_filling,
                "allow_annotations": self.allow_annotations, "require_seal": self.require_seal}


DEFAULT = Policy("yitong-default/1", DOCUMENT_STEPS + SIGNATURE_STEPS + SES_STEPS)
