"""idp/security/: the account-security logic behind the login forms, with no routes and no tables.

Passwords (argon2id, policy), TOTP and recovery codes, a self-hosted CAPTCHA, login throttling.
Imports keys/ (SM3, runtime store) and third-party libraries only; the views wire it in.
"""

from idp.security.bruteforce import Decision, LoginThrottle, ThrottlePolicy, ThrottleReason
from idp.security.captcha import Challenge, audio_for, check_answer, new_challenge
from idp.security.passwords import (
    PasswordProblem,
    check_password_policy,
    dummy_verify,
    hash_password,
    needs_rehash,
    verify_password,
)
from idp.security.totp import (
    hash_recovery_code,
    new_recovery_codes,
    new_secret,
    provisioning_uri,
    use_recovery_code,
    verify_totp,
)

__all__ = [
    "Challenge",
    "Decision",
    "LoginThrottle",
    "PasswordProblem",
    "ThrottlePolicy",
    "ThrottleReason",
    "audio_for",
    "check_answer",
    "check_password_policy",
    "dummy_verify",
    "hash_password",
    "hash_recovery_code",
    "needs_rehash",
    "new_challenge",
    "new_recovery_codes",
    "new_secret",
    "provisioning_uri",
    "use_recovery_code",
    "verify_password",
    "verify_totp",
]
