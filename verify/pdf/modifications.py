"""What changed after a signed revision: pyhanko's difference analysis under our stricter rules.

pyhanko's default accepts form filling after signing (and so a Shadow "replace via form field");
ours fails it, and annotation changes, unless the policy opts in.
"""

from __future__ import annotations

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
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import SignatureCoverageLevel

from keys.verdict import CheckName as N
from keys.verdict import SubIndication as Sub
from verify import report as r
from verify.pdf.document import FATAL, signature_field_names
from verify.policy import Policy


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


def modifications_step(reader: PdfFileReader, sig: EmbeddedPdfSignature, coverage: SignatureCoverageLevel | None,
                       policy: Policy) -> r.Step:
    name = N.MODIFICATIONS
    if coverage is None:
        return r.failed(name, Sub.FORMAT_FAILURE, "coverage cannot be evaluated: later changes cannot be judged")
    if coverage == SignatureCoverageLevel.ENTIRE_FILE:
        return r.passed(name, "nothing was changed after signing (the signature covers the whole file)")
    if coverage != SignatureCoverageLevel.ENTIRE_REVISION:
        return r.failed(name, Sub.FORMAT_FAILURE, f"coverage {coverage.name}: later changes cannot be judged")
    try:
        result = _diff_policy(policy).review_file(reader, sig.signed_revision, field_mdp_spec=sig.fieldmdp,
                                                  doc_mdp=sig.docmdp_level)
    except FATAL:
        raise
    except Exception as exc:
        return r.failed(name, Sub.FORMAT_FAILURE, f"the later revisions cannot be analysed: {r.describe(exc)}")
    if isinstance(result, SuspiciousModification):
        return r.failed(name, Sub.FORMAT_FAILURE, f"suspicious change after signing: {result}")
    assert isinstance(result, DiffResult)
    level = result.modification_level
    fields = ", ".join(sorted(result.changed_form_fields)) or "none"
    docmdp = sig.docmdp_level
    if docmdp is not None and level.value > docmdp.value and level != ModificationLevel.LTA_UPDATES:
        return r.failed(name, Sub.FORMAT_FAILURE, f"changes at level {level.name} exceed the certification "
                                                  f"(DocMDP {docmdp.name})")
    if level == ModificationLevel.OTHER:
        return r.failed(name, Sub.FORMAT_FAILURE, "changes after signing that no rule allows (page content, "
                                                  "objects or structure)")
    if level == ModificationLevel.ANNOTATIONS and not policy.allow_annotations:
        return r.failed(name, Sub.FORMAT_FAILURE, "annotations changed after signing")
    if level == ModificationLevel.FORM_FILLING:
        others = set(result.changed_form_fields) - signature_field_names(reader)
        if others and not policy.allow_form_filling:
            return r.failed(name, Sub.FORMAT_FAILURE, f"form fields filled after signing: {', '.join(sorted(others))}")
        return r.passed(name, f"after signing only signatures were added or filled ({fields})")
    return r.passed(name, f"after signing only {level.name.lower().replace('_', ' ')} updates "
                          "(time-stamps, DSS, metadata)")
