"""Real name for natural persons (实名认证): name + resident ID number → ``urn:yitong:loa:2``.

The page at ``/account/realname`` (signed-in people; zh-CN/en; CSRF like the other pages):

1. the ID number is checked locally first (idp/identity/numbers.py: checksum, birth date,
   address code) — a typo costs no library call and no attempt;
2. attempts that reach the library are limited per account (``ATTEMPTS`` per ``WINDOW``);
3. the population-library connector decides: ``match`` stores the verified identity (ID number
   encrypted, evidence kept) and raises the level to loa:2 (``Accounts.raise_level``: one
   conditional UPDATE, never lowering a higher level);
   ``no_match`` says so and changes nothing; ``unavailable`` (timeout, outage, open circuit)
   says "try later" and changes nothing: a person never gets a wrong level;
4. one ID number belongs to one account: a match for a number bound elsewhere is refused (only
   someone who knows the matching name and number learns that it is taken).

The level applies from the next sign-in (``Accounts.set_level``): tokens of the running session
keep the level the session started with. Audit events carry no name and no ID number.
"""

from __future__ import annotations

from idp.connectors import Verdict
from idp.realname.evidence import electronic_record

TRUST_FRAMEWORK = "cn_population_library"
ATTEMPTS = 5  # library checks per account ...
WINDOW = 3600  # ... per hour
MAX_NAME = 64


def evidence_from(verdict: Verdict) -> dict:
    """A check of the population register."""
    return electronic_record(verdict, "population_register")


