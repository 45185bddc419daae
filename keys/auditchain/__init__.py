"""Tamper-evident audit: records of any room chained by HMAC-SM3, with TSA-stamped checkpoints.

The chain key is a keystore secret (wrapped under the master key), so a database administrator
can read and edit rows but cannot recompute a link. Imports keys/ only; rooms (idp/ audit
events, seal/ usage records) hand their table and their transaction to :class:`AuditChain`.
"""

from keys.auditchain.archive import export_lines, verify_export
from keys.auditchain.chain import CHAIN_SECRET, AuditChain, Break, ChainPolicy, ChainReport, Link
from keys.auditchain.stamping import TsaStamper, open_chain

__all__ = ["CHAIN_SECRET", "AuditChain", "Break", "ChainPolicy", "ChainReport", "Link", "TsaStamper", "export_lines",
           "open_chain", "verify_export"]
