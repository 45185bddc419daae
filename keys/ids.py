"""Random identifiers that people type: client ids, subjects, agent and job ids.

``secrets.token_urlsafe`` can start with ``-``, which a command line reads as an option
(`yitong client show -xyz...` → "No such option"); these never do.
"""

from __future__ import annotations

import secrets


def new_id(nbytes: int = 16) -> str:
    """A URL-safe random identifier of ``nbytes`` random bytes that does not start with '-' or '_'."""
    while True:
        value = secrets.token_urlsafe(nbytes)
        if value[0].isalnum():
            return value
