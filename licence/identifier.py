"""The licence identifier (电子证照标识) of GB/T 36904: the rule lives in keys/licenceids.py.

licence/ makes identifiers and verify/ checks them in files it is given; verify/ may not import
licence/, so the one rule (layout and ISO 7064 MOD 37,36 check character) is in keys/ and this
module re-exports it for the licence room.
"""

from keys.licenceids import (
    ALPHABET,
    ARC,
    SERIAL_DIGITS,
    TYPE_CODE,
    IdentifierError,
    LicenceIdentifier,
    make_identifier,
    mod_37_36,
    parse_identifier,
)

__all__ = ["ALPHABET", "ARC", "SERIAL_DIGITS", "TYPE_CODE", "IdentifierError", "LicenceIdentifier",
           "make_identifier", "mod_37_36", "parse_identifier"]
