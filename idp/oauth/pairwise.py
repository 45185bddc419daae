"""Pairwise subject identifiers (OpenID Connect Core 1.0 §8.1), for clients that opt in.

A client registered with ``subject_type`` ``pairwise`` sees, in its ID tokens, userinfo answers
and back-channel logout tokens, ``sub`` = base64url(HMAC-SM3(key, sector ‖ 0x00 ‖ sub)), where the
key is a keystore secret (``idp-pairwise-subject``, wrapped under the master key) and the sector
is the host of the client's redirect URIs (one host per pairwise client: idp/oauth/clients.py). Two
clients on different hosts cannot correlate a person; the value is stable for a person and a
sector. Access tokens keep the stable ``sub`` (DESIGN.md token contract: resource servers such
as the seal service identify seal holders by it).
"""

from __future__ import annotations

import base64
from urllib.parse import urlsplit

from keys.sm3 import hmac_sm3

SECRET_NAME = "idp-pairwise-subject"


def sector_of(client) -> str:
    hosts = sorted({urlsplit(u).hostname or "" for u in client.redirect_uris})
    return hosts[0] if len(hosts) == 1 and hosts[0] else f"client:{client.client_id}"


def pairwise_subject(key: bytes, client, sub: str) -> str:
    digest = hmac_sm3(key, b"yitong-pairwise/1|" + sector_of(client).encode() + b"\x00" + sub.encode())
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def subject_for(key: bytes | None, client, sub: str) -> str:
    """What ``client`` is told the person's ``sub`` is."""
    if client is None or key is None or getattr(client, "subject_type", "public") != "pairwise":
        return sub
    return pairwise_subject(key, client, sub)
