"""Time-based one-time passwords (RFC 6238) and single-use recovery codes.

TOTP parameters are the ones every authenticator app understands (Google Authenticator,
Microsoft Authenticator, 腾讯身份验证器, FreeOTP): HMAC-SHA-1, 30-second steps, 6 digits
(RFC 6238 §4 and §5.2; SHA-1 is fine here, as HMAC does not rely on collision resistance).
Secrets are 160 bits, the length RFC 4226 §4 (R6) recommends.

RFC 6238 §5.2: we accept one step either side of now for clock drift and network delay, and a
verifier "MUST NOT accept the second attempt of the OTP after the successful validation has
been issued for the first OTP" — hence the replay cache keyed by (user, time step). Guessing is
bounded by the caller: three steps accepted means 3 in 10^6 per try, so the second-factor form
must sit behind :class:`idp.security.bruteforce.LoginThrottle` like the password form.

Recovery codes are NIST SP 800-63B §5.1.2 look-up secrets: 12 characters from a 31-symbol
alphabet without look-alikes (59 bits each). Having fewer than 112 bits, §5.1.2.2 requires them
to be "salted and hashed using a suitable one-way key derivation function": argon2id, as for
passwords.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
import unicodedata

import pyotp

from idp.security.passwords import hash_password, verify_password
from keys.runtime import ReplayCache

TOTP_STEP_SECONDS = 30
TOTP_DIGITS = 6
TOTP_ACCEPTED_STEPS = (0, -1, 1)  # now first: the usual case costs one HMAC less
DEFAULT_ISSUER = "Yitong 一通"

RECOVERY_CODE_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"  # no 0/o, 1/i/l
RECOVERY_CODE_GROUPS = 3
RECOVERY_CODE_GROUP_LENGTH = 4
RECOVERY_CODE_BITS = RECOVERY_CODE_GROUPS * RECOVERY_CODE_GROUP_LENGTH * math.log2(len(RECOVERY_CODE_ALPHABET))


def new_secret() -> str:
    """A fresh 160-bit TOTP secret, base32 as authenticator apps expect."""
    return pyotp.random_base32(length=32)


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, digest=hashlib.sha1, interval=TOTP_STEP_SECONDS)


def provisioning_uri(secret: str, account_name: str, issuer: str = DEFAULT_ISSUER) -> str:
    """The ``otpauth://totp/...`` URI to show as a QR code when the user enrols an app."""
    return _totp(secret).provisioning_uri(name=account_name, issuer_name=issuer)


def _clean_code(code: str) -> str | None:
    """The six ASCII digits the user meant (full-width digits and spaces forgiven), or None."""
    text = unicodedata.normalize("NFKC", code or "").replace(" ", "").replace("-", "")
    if len(text) != TOTP_DIGITS or not text.isascii() or not text.isdigit():
        return None
    return text


def verify_totp(secret: str, code: str, *, replay_cache: ReplayCache, user_key: str, now: float | None = None) -> bool:
    """True when ``code`` is the code of the current step or one step either side, used for the first time.

    ``user_key`` names the user (their account id), so that the replay entry is theirs alone.
    """
    clean = _clean_code(code)
    if clean is None:
        return False
    now = time.time() if now is None else now
    current = int(now // TOTP_STEP_SECONDS)
    totp = _totp(secret)
    matched = None
    for offset in TOTP_ACCEPTED_STEPS:
        if hmac.compare_digest(totp.generate_otp(current + offset), clean) and matched is None:
            matched = current + offset
    if matched is None:
        return False
    # Step ``matched`` is accepted until step ``matched + 1`` ends; one step more covers workers
    # whose clocks differ a little.
    ttl = (matched + 3) * TOTP_STEP_SECONDS - now
    return replay_cache.first_use(f"{user_key}:{matched}", ttl)


def new_recovery_codes(n: int = 10) -> list[str]:
    """``n`` fresh recovery codes like ``7kq3-m9xa-2fhd``; show them once, store their hashes."""
    if n < 1:
        raise ValueError("a user needs at least one recovery code")
    length = RECOVERY_CODE_GROUPS * RECOVERY_CODE_GROUP_LENGTH
    codes = []
    for _ in range(n):
        raw = "".join(secrets.choice(RECOVERY_CODE_ALPHABET) for _ in range(length))
        step = RECOVERY_CODE_GROUP_LENGTH
        codes.append("-".join(raw[i : i + step] for i in range(0, length, step)))
    return codes


def _clean_recovery_code(code: str) -> str | None:
    text = unicodedata.normalize("NFKC", code or "").casefold()
    text = "".join(ch for ch in text if ch not in " -")
    length = RECOVERY_CODE_GROUPS * RECOVERY_CODE_GROUP_LENGTH
    if len(text) != length or any(ch not in RECOVERY_CODE_ALPHABET for ch in text):
        return None
    return text


def hash_recovery_code(code: str) -> str:
    """The argon2id hash to store for one recovery code (dashes, spaces and case do not matter)."""
    clean = _clean_recovery_code(code)
    if clean is None:
        raise ValueError("not a recovery code")
    return hash_password(clean)


def use_recovery_code(stored_hashes: list[str], code: str) -> tuple[bool, list[str]]:
    """``(True, the hashes without the one used)`` when ``code`` matches; ``(False, unchanged)`` otherwise.

    Single use is the caller's to finish: store the remaining hashes in the same transaction that
    reads them (``SELECT ... FOR UPDATE``), so that two requests racing with one code cannot both win.
    """
    remaining = list(stored_hashes)
    clean = _clean_recovery_code(code)
    if clean is None:
        return False, remaining
    for index, stored in enumerate(remaining):
        if verify_password(stored, clean):
            return True, remaining[:index] + remaining[index + 1 :]
    return False, remaining
