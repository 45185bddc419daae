"""The one clock: aware UTC now. Free of SQLAlchemy, so verify/ (no database) can use what needs it."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
