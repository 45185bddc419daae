"""Runtime interfaces every room shares, each with a Redis and an in-process implementation.

- :class:`ReplayCache` — "have I seen this value before?" (DPoP jti, client-assertion jti,
  one-time codes), with a time to live.
- :class:`RateLimiter` — fixed-window counters (login attempts, SMS sends, API quotas).
- :class:`JobQueue` — background jobs (batch sealing, large PDFs): RQ over Redis, or a
  thread pool in the embedded default, which is NOT durable (jobs die with the process).

Redis failing or stalling raises :class:`StoreUnavailable` (within about two seconds), whichever
of them asked: the application answers 503 for it, and recovers when Redis does.

:func:`open_runtime` picks Redis when a URL is given and the in-process fallbacks otherwise.
"""

from keys.runtime.cache import (
    DEFAULT_PREFIX,
    ChangeStamp,
    MemoryStore,
    RateLimiter,
    RateLimitResult,
    RedisStore,
    ReplayCache,
    StoreUnavailable,
    stamp_snapshot,
)
from keys.runtime.jobs import JobQueue, JobStatus, RQJobQueue, ThreadJobQueue
from keys.runtime.open import Runtime, open_runtime

__all__ = [
    "DEFAULT_PREFIX",
    "ChangeStamp",
    "JobQueue",
    "JobStatus",
    "MemoryStore",
    "RQJobQueue",
    "RateLimitResult",
    "RateLimiter",
    "RedisStore",
    "ReplayCache",
    "Runtime",
    "StoreUnavailable",
    "ThreadJobQueue",
    "open_runtime",
    "stamp_snapshot",
]
