"""Password storage and the password policy.

Storage follows the OWASP Password Storage Cheat Sheet (2023 revision): "Use Argon2id with a
minimum configuration of 19 MiB of memory, an iteration count of 2, and 1 degree of
parallelism" (https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html).
The PHC string that argon2-cffi produces carries its own parameters and salt, so raising the
cost later only needs :func:`needs_rehash` at the next successful login.

The cost can be raised (never needs lowering in production) with ``YITONG_PASSWORD_ARGON2``
(``m=<KiB>,t=<iterations>,p=<lanes>``, the PHC string's own notation; default the OWASP minimum).
A cost below the OWASP minimum is accepted but logged as a warning at start-up: the test suite
uses one so that two thousand sign-ins do not spend a minute of CPU on hashing, and its tests of
the default check the OWASP parameters themselves (tests/idp/test_security.py).

Passwords are NFKC-normalised before hashing (NIST SP 800-63B §5.1.1.2): a Chinese input method
in full-width mode types ``ｗｏａｉｎｉ`` where the user meant ``woaini``, and both must log in.

The policy is NIST SP 800-63B §5.1.1.2 too: a minimum length and a block-list of common and
context-specific passwords (the account's own username or phone number), and no composition
rules ("one upper-case letter and one symbol"), which push users towards ``Woaini1314!``.
"""

from __future__ import annotations

import functools
import os
import re
import secrets
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD_LENGTH = 10
# An upper bound keeps pasted novels out; NIST SP 800-63B asks verifiers to permit at least 64.
MAX_PASSWORD_LENGTH = 128
_MIN_DISTINCT_CHARACTERS = 4

COST_VARIABLE = "YITONG_PASSWORD_ARGON2"
MAX_MEMORY_KIB = 1 << 20


@dataclass(frozen=True)
class Argon2Cost:
    """argon2id's cost: memory in KiB, iterations and lanes, written as in the PHC string."""

    memory_kib: int
    iterations: int
    parallelism: int

    _FORM = re.compile(r"m=(\d{1,9}),t=(\d{1,4}),p=(\d{1,3})")

    @classmethod
    def parse(cls, text: str) -> Argon2Cost:
        """``m=19456,t=2,p=1`` → the cost; ValueError naming the variable and the form otherwise."""
        found = cls._FORM.fullmatch(text.replace(" ", ""))
        cost = cls(*(int(number) for number in found.groups())) if found else None
        if (cost is None or not 1 <= cost.iterations <= 100 or not 1 <= cost.parallelism <= 64
                or not 8 * cost.parallelism <= cost.memory_kib <= MAX_MEMORY_KIB):
            raise ValueError(f"{COST_VARIABLE} must read m=<KiB>,t=<iterations>,p=<lanes> with t 1-100, p 1-64 and "
                             f"m from 8 x p to {MAX_MEMORY_KIB} (1 GiB: every sign-in takes it); the OWASP minimum is "
                             f"{OWASP_COST}; got {text!r}")
        return cost

    def __str__(self) -> str:
        return f"m={self.memory_kib},t={self.iterations},p={self.parallelism}"

    @property
    def below_owasp(self) -> bool:
        return self.memory_kib < OWASP_COST.memory_kib or self.iterations < OWASP_COST.iterations


# OWASP Password Storage Cheat Sheet: argon2id, m = 19 MiB, t = 2, p = 1.
OWASP_COST = Argon2Cost(memory_kib=19 * 1024, iterations=2, parallelism=1)


def configured_cost(environ: dict[str, str] | None = None) -> Argon2Cost:
    """The cost ``YITONG_PASSWORD_ARGON2`` asks for (``environ`` defaults to the process's), else OWASP's."""
    text = (os.environ if environ is None else environ).get(COST_VARIABLE, "").strip()
    return Argon2Cost.parse(text) if text else OWASP_COST


def hasher_for(cost: Argon2Cost) -> PasswordHasher:
    return PasswordHasher(time_cost=cost.iterations, memory_cost=cost.memory_kib, parallelism=cost.parallelism,
                          hash_len=32, salt_len=16, type=Type.ID)


@functools.cache
def active_cost() -> Argon2Cost:
    """The cost this process hashes with, read once from its environment (the settings validated it)."""
    return configured_cost()


@functools.cache
def _hasher() -> PasswordHasher:
    return hasher_for(active_cost())

# The passwords people choose first, in China and elsewhere: the top of the lists published from
# leaks (the 2011 CSDN dump among them) and the yearly NordPass and SplashData lists. Short ones are
# refused by the length rule anyway; they stay so that the list reads as what it is. A screen
# against a large breach corpus (800-63B §5.1.1.2) would be the next step, not a longer list here.
_COMMON_PASSWORDS = frozenset(
    """
    123456 12345678 123456789 1234567890 0123456789 1234567891 12345678910 0987654321 9876543210
    111111 11111111 1111111111 000000 00000000 0000000000 888888 88888888 8888888888 666666 66666666
    6666666666 123123 123123123 1231231231 112233 11223344 1122334455 147258369 1472583690 987654321
    123456789a a123456789 123456789q 12345678a a12345678 123456a a123456 aa123456 aa12345678
    abc123 abc123456 abc1234567 abcd1234 abcd123456 1234abcd 12345abcde abcde12345
    qwe123 qwe123456 qwe1234567 qweasd123 qweasdzxc 123qwe 123qweasd 123qweasdzxc
    qwerty qwertyuiop qwerty123 qwerty1234 1qaz2wsx 1qaz2wsx3edc 1q2w3e4r 1q2w3e4r5t 1q2w3e4r5t6y
    asdfghjkl zxcvbnm zxcvbnm123 asd123456 zxc123456 qaz123456 qq123456 qq123456789
    woaini woaini1314 woaini520 woaini521 woaini123 woaini123456 woaiwojia iloveyou iloveyou1314
    5201314 52013145201314 1314520 1314521 5211314 520520520 7758521 7758258 584520 147258
    password password1 password123 passw0rd p@ssw0rd admin admin123 admin123456 administrator
    root123456 test123456 welcome123 changeme123 huawei123 huawei12345 zhang123456 wang123456
    li123456 liu123456 chen123456 aini1314 a5201314 wodemima mima123456 yitong123 yitong123456
    dearbook xiazhili 789456123 31415926 12344321 123654789 12121212 qazwsxedc 110110110 asdasdasd
    22222222 123321123 123456123 a1234567 1234qwer qwertyui 123456abc 87654321 qqqqqqqq aaaaaaaa
    """.split()
)


class PasswordProblem(StrEnum):
    """Why a new password is refused: the member names are stable codes, the values plain sentences."""

    TOO_SHORT = f"it is too short: use at least {MIN_PASSWORD_LENGTH} characters"
    TOO_LONG = f"it is too long: use at most {MAX_PASSWORD_LENGTH} characters"
    CONTAINS_USERNAME = "it contains your username"
    CONTAINS_PHONE = "it contains your phone number"
    TOO_COMMON = "it is one of the most common passwords, the first ones an attacker tries"
    TOO_REPETITIVE = "it repeats too few different characters (like aaaaaaaaaa)"


def _normalise(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def hash_password(password: str) -> str:
    """The PHC string (``$argon2id$v=19$m=19456,t=2,p=1$...``) to store for ``password``."""
    return _hasher().hash(_normalise(password))


def verify_password(stored_hash: str, password: str) -> bool:
    """True when ``password`` matches; False on a mismatch and on a malformed or empty hash."""
    if not stored_hash or not isinstance(stored_hash, str) or not isinstance(password, str):
        return False
    try:
        return _hasher().verify(stored_hash, _normalise(password))
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when the hash was made with other parameters (or is not ours): rehash after the next login."""
    if not isinstance(stored_hash, str):
        return True
    try:
        return _hasher().check_needs_rehash(stored_hash)
    except ValueError:  # InvalidHashError is a ValueError
        return True


@functools.cache
def dummy_hash() -> str:
    """A hash with the current parameters whose password nobody knows (a random string, thrown away):
    verifying against it costs exactly what a real verification costs."""
    return _hasher().hash(secrets.token_urlsafe(32))


def dummy_verify(password: str) -> bool:
    """Spend the time of a real verification and return False.

    Call it when the account does not exist, so that "unknown user" and "wrong password" take the
    same time and a stopwatch cannot enumerate usernames (OWASP Authentication Cheat Sheet,
    "Authentication and Error Messages").
    """
    verify_password(dummy_hash(), password)
    return False


def _digits(text: str) -> str:
    digits = "".join(ch for ch in _normalise(text) if ch.isdigit())
    return digits[2:] if len(digits) == 13 and digits.startswith("86") else digits


def _is_common(folded: str) -> bool:
    return folded in _COMMON_PASSWORDS or folded.rstrip("!@#$%^&*.?~_-+=") in _COMMON_PASSWORDS


def check_password_policy(password: str, *, username: str | None = None, phone: str | None = None) -> list[str]:
    """The problems with ``password`` as a new password, in plain words; an empty list means it is fine."""
    text = _normalise(password)
    folded = text.casefold()
    problems: list[str] = []
    if len(text) < MIN_PASSWORD_LENGTH:
        problems.append(PasswordProblem.TOO_SHORT)
    if len(text) > MAX_PASSWORD_LENGTH:
        problems.append(PasswordProblem.TOO_LONG)
    if username and len(username.strip()) >= 3 and _normalise(username).strip().casefold() in folded:
        problems.append(PasswordProblem.CONTAINS_USERNAME)
    phone_digits = _digits(phone) if phone else ""
    if len(phone_digits) >= 6 and phone_digits in "".join(ch for ch in text if ch.isdigit()):
        problems.append(PasswordProblem.CONTAINS_PHONE)
    if _is_common(folded):
        problems.append(PasswordProblem.TOO_COMMON)
    elif text and len(set(folded)) < _MIN_DISTINCT_CHARACTERS:
        problems.append(PasswordProblem.TOO_REPETITIVE)
    return problems
