"""The licence room's records in the tamper-evident audit trail (keys/auditchain): a licence's
history (``licence_events``) and its record of uses (``licence_uses``) are chains of their own,
keyed and checkpointed like the seals' (the composition root hands every licence object the home's
:class:`keys.auditchain.AuditChain`). Recording needs the chain; reading does not.
"""

from __future__ import annotations

from keys.auditchain import AuditChain


def prepared(chain: AuditChain | None) -> AuditChain:
    """The chain to record through, prepared (call it before opening the recording transaction: see
    :meth:`AuditChain.prepare`); a licence record is never written unchained."""
    if chain is None:
        raise RuntimeError("licence records are chained: open this licence object with the home's AuditChain "
                           "to record")
    chain.prepare()
    return chain
