"""The one clock: aware UTC now, and the monotonic seconds that in-process rate-limit windows and
replay lifetimes count. Free of SQLAlchemy, so verify/ (no database) can use what needs it."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def monotonic() -> float:
    """Seconds that never go back (the in-process store's windows); one seam a test can advance."""
    return time.monotonic()
