"""Per-action step-up (RFC 9470): the one rule every operator API applies to sensitive actions.

A person's access token carries ``auth_time`` (when they signed in); for a sensitive action it
must be at most :func:`window` seconds old (YITONG_ADMIN_STEPUP_SECONDS, default 300), else the API answers 401 with
:func:`challenge` in ``WWW-Authenticate`` and the client signs the person in again with
``max_age=0``. An automation client's own token (client credentials: ``sub`` is the client) has
no sign-in to repeat. idp/admin, seal/admin and licence/admin share this rule (web-free).
"""

from __future__ import annotations

import time

STEP_UP_MAX_AGE = 300  # seconds: the default of YITONG_ADMIN_STEPUP_SECONDS
CONFIG_KEY = "YITONG_ADMIN_STEPUP_SECONDS"  # the composition root puts the setting in the app's config
PROBLEM_KIND = "insufficient-user-authentication"
# What the admin APIs' OpenAPI documents say of an operation that needs a recent sign-in.
DESCRIPTION = ("Needs a sign-in within the step-up window (YITONG_ADMIN_STEPUP_SECONDS, default 300 s): otherwise "
               "401 with `WWW-Authenticate: Bearer error=\"insufficient_user_authentication\", max_age=<window>` "
               "(RFC 9470); sign in again with max_age=0 and repeat.")


def window(config) -> int:
    """The step-up window the composition root set in ``config`` (a mapping), else the default."""
    return int(config.get(CONFIG_KEY, STEP_UP_MAX_AGE))


def needed(claims: dict, max_age: int = STEP_UP_MAX_AGE, now: float | None = None) -> bool:
    """True when the token's sign-in is older than ``max_age`` or not stated (a person's token only)."""
    if claims.get("sub") == claims.get("client_id"):
        return False
    auth_time = claims.get("auth_time")
    if isinstance(auth_time, bool) or not isinstance(auth_time, int):
        return True
    return (time.time() if now is None else now) - auth_time > max_age


def challenge(max_age: int = STEP_UP_MAX_AGE) -> str:
    """The ``WWW-Authenticate`` value of RFC 9470 §3."""
    return ('Bearer error="insufficient_user_authentication", '
            f'error_description="a more recent authentication is required", max_age={max_age}')


def detail(max_age: int = STEP_UP_MAX_AGE) -> str:
    return f"this action needs a sign-in within the last {max_age} seconds; sign in again (max_age=0) and repeat it"
