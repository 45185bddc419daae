"""Choose the runtime implementations from configuration (Redis URL or none)."""

from __future__ import annotations

from dataclasses import dataclass

from keys.runtime.cache import (
    DEFAULT_PREFIX,
    ChangeStamp,
    KeyValueStore,
    MemoryStore,
    RateLimiter,
    RedisStore,
    ReplayCache,
)
from keys.runtime.jobs import JobQueue, RQJobQueue, ThreadJobQueue


@dataclass
class Runtime:
    store: KeyValueStore
    jobs: JobQueue
    shared: bool  # True when every worker and host sees the same state (Redis)

    def replay_cache(self, namespace: str) -> ReplayCache:
        return ReplayCache(self.store, namespace)

    def change_stamp(self, name: str) -> ChangeStamp | None:
        """A shared change counter (see :class:`ChangeStamp`); None without Redis."""
        return ChangeStamp(self.store, name) if isinstance(self.store, RedisStore) else None

    def rate_limiter(self, namespace: str, limit: int, window_seconds: float) -> RateLimiter:
        return RateLimiter(self.store, namespace, limit, window_seconds)


def open_runtime(redis_url: str | None, prefix: str = DEFAULT_PREFIX) -> Runtime:
    if redis_url:
        store = RedisStore.from_url(redis_url, prefix)
        return Runtime(store=store, jobs=RQJobQueue(store.client, name=prefix.rstrip(":") or "yitong", url=redis_url),
                       shared=True)
    return Runtime(store=MemoryStore(), jobs=ThreadJobQueue(), shared=False)
