"""Named checks: one small object per check, run in the order its path lists them, if the policy names it.

A path (a PDF document, a PDF signature, a document time-stamp, a GB/T 38540 signature or seal;
an OFD one next) is a tuple of :class:`Check` objects and a context object the checks read.
:func:`run_checks` runs the checks the policy selects (``Policy.select``) and adds each Step to
the report; a check whose prerequisite already failed returns None and adds nothing.

What a path cannot go on without (the PDF parsed, the CMS readable, the SES structure parsed)
is a precondition rather than a check: it always runs, and is reported when the policy names it
or when it fails (:func:`precondition`).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from keys.verdict import CheckName, Step

if TYPE_CHECKING:
    from datetime import datetime

    from verify.certs import Revinfo
    from verify.policy import Policy
    from verify.report import Report
    from verify.trust import TrustBundle

Context = TypeVar("Context")

Judge = Callable[[Context], "Step | Awaitable[Step | None] | None"]


@dataclass(frozen=True)
class Check(Generic[Context]):
    """A named check: ``run(context) -> Step`` (None: not applicable, a prerequisite failed and said so)."""

    name: CheckName
    judge: Judge

    async def run(self, context: Context) -> Step | None:
        step = self.judge(context)
        if inspect.isawaitable(step):
            step = await step
        if step is not None and step.name != self.name:
            raise ValueError(f"check {self.name} returned a step named {step.name}")
        return step


async def run_checks(checks: Iterable[Check], context, policy, add: Callable[[Step], object]) -> list[Step]:
    """Run the checks ``policy`` selects, in path order; add and return their steps."""
    steps = []
    for check in policy.select(checks):
        step = await check.run(context)
        if step is not None:
            add(step)
            steps.append(step)
    return steps


def precondition(step: Step, policy, add: Callable[[Step], object]) -> Step:
    """Report a precondition's step if the policy names it or it failed (a failure is always the verdict)."""
    if policy.runs(step.name) or not step.passed:
        add(step)
    return step


__all__ = ["Check", "CheckName", "precondition", "run_checks"]


class Job:
    """What the verification of one document carries, whatever its format (PDF, OFD): the bytes,
    the anchors, the policy, the validation time, whether fetching is allowed, the report being
    written and the revocation data the caller vouches for."""

    def __init__(self, data: bytes, trust: TrustBundle, policy: Policy, validation_time: datetime, online: bool,
                 report: Report, supplied: Revinfo | None = None) -> None:
        self.data = data
        self.trust = trust
        self.policy = policy
        self.validation_time = validation_time
        self.online = online
        self.report = report
        self.supplied = supplied
