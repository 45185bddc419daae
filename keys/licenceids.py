"""The licence identifier (电子证照标识) of GB/T 36904, and its ISO 7064 MOD 37,36 check character.

Pure and dependency-free, here in keys/ so that licence/ (which makes identifiers) and verify/
(which checks the identifier a licence file carries, without importing licence/) share one rule.

The one module that holds these choices (DESIGN.md, "Identity numbers"), so they can be corrected
in one place once the standard's full text is at hand::

    1.2.156.3005.2.<type>.<issuer>.<serial>.<version>.<check>

- ``1.2.156.3005.2`` — the OID arc of electronic licences (China 1.2.156, licence arc 3005.2).
- ``type`` — the licence type code (证照类型代码): the defining authority's USCC (18
  characters) followed by a 3-digit sequence number.
- ``issuer`` — the issuing authority's USCC (18 characters, 颁发机构代码).
- ``serial`` — the issuer's sequence number for this type: here 12 digits, allocated per type
  from ``licence_serials`` and never reused.
- ``version`` — 3 digits, ``001`` for the first issuance; a change (supersede) issues the next.
- ``check`` — ISO/IEC 7064 MOD 37,36 (hybrid system, alphabet ``0-9A-Z``) over
  ``type + issuer + serial + version`` (the dots left out).

MOD 37,36 (ISO/IEC 7064 §6.2, pure-hybrid with M = 36): start with P = M; for each character
of value *a*: S = (P mod (M+1)) + a, P = ((S mod M) or M) × 2; the check value *c* makes
(P mod (M+1) + c) mod M = 1. python-stdnum's ``stdnum.iso7064.mod_37_36`` is the second,
independent implementation the tests compare with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ARC = "1.2.156.3005.2"
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_MODULUS = 36
SERIAL_DIGITS = 12
_USCC = r"[0-9A-HJ-NPQRTUWXY]{18}"
_PATTERN = re.compile(
    rf"^{re.escape(ARC)}\.(?P<type>{_USCC}\d{{3}})\.(?P<issuer>{_USCC})\.(?P<serial>\d{{{SERIAL_DIGITS}}})"
    r"\.(?P<version>\d{3})\.(?P<check>[0-9A-Z])$")
TYPE_CODE = re.compile(rf"^{_USCC}\d{{3}}$")


class IdentifierError(ValueError):
    """A licence identifier that is malformed or whose check character is wrong."""


def mod_37_36(text: str) -> str:
    """The ISO/IEC 7064 MOD 37,36 check character of ``text`` (characters 0-9, A-Z)."""
    product = _MODULUS
    for char in text:
        value = ALPHABET.find(char)
        if value < 0:
            raise IdentifierError(f"{char!r} is not in the MOD 37,36 alphabet 0-9 A-Z")
        total = product % (_MODULUS + 1) + value
        product = ((total % _MODULUS) or _MODULUS) * 2
    return ALPHABET[(_MODULUS + 1 - product % (_MODULUS + 1)) % _MODULUS]


@dataclass(frozen=True)
class LicenceIdentifier:
    type_code: str
    issuer: str
    serial: str
    version: int

    @property
    def check(self) -> str:
        return mod_37_36(f"{self.type_code}{self.issuer}{self.serial}{self.version:03d}")

    def __str__(self) -> str:
        return f"{ARC}.{self.type_code}.{self.issuer}.{self.serial}.{self.version:03d}.{self.check}"

    def next_version(self) -> LicenceIdentifier:
        if self.version >= 999:
            raise IdentifierError("a licence has at most 999 versions")
        return LicenceIdentifier(self.type_code, self.issuer, self.serial, self.version + 1)


def make_identifier(type_code: str, issuer: str, serial: int, version: int = 1) -> LicenceIdentifier:
    if not TYPE_CODE.match(type_code):
        raise IdentifierError(f"{type_code!r} is not a licence type code (a USCC and 3 digits)")
    if not re.fullmatch(_USCC, issuer):
        raise IdentifierError(f"{issuer!r} is not an issuing authority's USCC")
    if not 0 < serial < 10 ** SERIAL_DIGITS:
        raise IdentifierError(f"the serial must be 1 to {SERIAL_DIGITS} digits")
    if not 1 <= version <= 999:
        raise IdentifierError("the version is 1 to 999")
    return LicenceIdentifier(type_code, issuer, f"{serial:0{SERIAL_DIGITS}d}", version)


def parse_identifier(text: str) -> LicenceIdentifier:
    """The parts of a licence identifier; IdentifierError when malformed or its check fails."""
    match = _PATTERN.match(text or "")
    if match is None:
        raise IdentifierError("not a GB/T 36904 licence identifier "
                              f"({ARC}.<type>.<issuer>.<serial>.<version>.<check>)")
    ident = LicenceIdentifier(match["type"], match["issuer"], match["serial"], int(match["version"]))
    if ident.check != match["check"]:
        raise IdentifierError("the licence identifier's check character is wrong (ISO 7064 MOD 37,36)")
    return ident
