"""Replay cache and rate-limit store: one small key/value contract, two implementations.

Both stores implement two atomic primitives, and the two interfaces are built on them:

- ``add_if_absent(key, ttl)`` — SET NX EX: True the first time, False while the key lives;
- ``incr_window(key, ttl)`` — INCR, setting the expiry on creation: the count in this window;
  ``incr_windows`` counts several keys so in one round trip, the later ones only while the first
  stays within a limit (:func:`hit_gated`: a login's three throttle scopes).
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

from keys import clock as _clock

DEFAULT_PREFIX = "yitong:"  # an installation's namespace in Redis unless YITONG_REDIS_PREFIX names another

class StoreUnavailable(Exception):
    """The shared store (Redis) did not answer: the request cannot be decided now, so it is
    refused (never let through without its replay or rate check) and may be retried shortly."""

    retry_after_seconds = 5


class KeyValueStore(Protocol):
    def add_if_absent(self, key: str, ttl_seconds: float) -> bool: ...
    def incr_window(self, key: str, ttl_seconds: float) -> tuple[int, float]: ...
    def incr_windows(self, counters: list[tuple[str, float]], gate_limit: int) -> list[tuple[int, float]]: ...
    def ping(self) -> None: ...


class MemoryStore:
    """In-process store for the embedded default: shared by the threads of one process only."""

    def __init__(self, clock=None) -> None:
        self._clock = clock or _clock.monotonic  # looked up now: a test's server may advance keys.clock
        self._lock = threading.Lock()
        self._expiry: dict[str, float] = {}
        self._counts: dict[str, int] = {}
        self._ops = 0

    def _sweep(self, now: float) -> None:
        self._ops += 1
        if self._ops % 1024:
            return
        for key in [k for k, exp in self._expiry.items() if exp <= now]:
            self._expiry.pop(key, None)
            self._counts.pop(key, None)

    def _alive(self, key: str, now: float) -> bool:
        expiry = self._expiry.get(key)
        if expiry is None or expiry <= now:
            self._expiry.pop(key, None)
            self._counts.pop(key, None)
            return False
        return True

    def add_if_absent(self, key: str, ttl_seconds: float) -> bool:
        with self._lock:
            now = self._clock()
            self._sweep(now)
            if self._alive(key, now):
                return False
            self._expiry[key] = now + ttl_seconds
            return True

    def incr_window(self, key: str, ttl_seconds: float) -> tuple[int, float]:
        with self._lock:
            now = self._clock()
            self._sweep(now)
            if not self._alive(key, now):
                self._expiry[key] = now + ttl_seconds
                self._counts[key] = 0
            self._counts[key] += 1
            return self._counts[key], self._expiry[key] - now

    def incr_windows(self, counters: list[tuple[str, float]], gate_limit: int) -> list[tuple[int, float]]:
        """``incr_window`` on each (key, ttl) in turn; after the first only if its count is within ``gate_limit``."""
        counted = [self.incr_window(*counters[0])]
        if counted[0][0] <= gate_limit:
            counted += [self.incr_window(key, ttl) for key, ttl in counters[1:]]
        return counted

    def ping(self) -> None:
        return None


_INCR_WINDOW = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {count, redis.call('PTTL', KEYS[1])}
"""

# As _INCR_WINDOW on each key in turn (ARGV[i + 1]: its window in ms); after the first key only
# while the first's count stays within ARGV[1]. Returns count, PTTL, count, PTTL, ...
_INCR_WINDOWS = """
local counted = {}
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  if count == 1 then redis.call('PEXPIRE', key, ARGV[i + 1]) end
  counted[#counted + 1] = count
  counted[#counted + 1] = redis.call('PTTL', key)
  if i == 1 and count > tonumber(ARGV[1]) then break end
end
return counted
"""


class RedisStore:
    """Redis store: shared by every worker and host; keys carry a namespace prefix."""

    def __init__(self, client, prefix: str = DEFAULT_PREFIX) -> None:
        self._client = client
        self._prefix = prefix
        self._incr = client.register_script(_INCR_WINDOW)
        self._incr_many = client.register_script(_INCR_WINDOWS)

    @classmethod
    def from_url(cls, url: str, prefix: str = DEFAULT_PREFIX) -> RedisStore:
        from keys.runtime.redis_client import fail_fast_client

        return cls(fail_fast_client(url), prefix)

    @property
    def client(self):
        return self._client

    @property
    def prefix(self) -> str:
        return self._prefix

    def add_if_absent(self, key: str, ttl_seconds: float) -> bool:
        ms = max(1, math.ceil(ttl_seconds * 1000))
        return bool(self._client.set(self._prefix + key, b"1", nx=True, px=ms))

    def incr_window(self, key: str, ttl_seconds: float) -> tuple[int, float]:
        ms = max(1, math.ceil(ttl_seconds * 1000))
        count, pttl = self._incr(keys=[self._prefix + key], args=[ms])
        return int(count), max(0, int(pttl)) / 1000

    def incr_windows(self, counters: list[tuple[str, float]], gate_limit: int) -> list[tuple[int, float]]:
        """As MemoryStore.incr_windows, atomically, in one round trip."""
        windows = [max(1, math.ceil(ttl * 1000)) for _, ttl in counters]
        flat = self._incr_many(keys=[self._prefix + key for key, _ in counters], args=[gate_limit, *windows])
        return [(int(flat[i]), max(0, int(flat[i + 1])) / 1000) for i in range(0, len(flat), 2)]

    def ping(self) -> None:
        self._client.ping()


class ChangeStamp:
    """A counter in the shared store that every writer of some rarely changed data (OAuth clients)
    bumps after its commit, so that readers in any worker or process may keep what they read while
    the counter stands still. Over Redis only: an in-process counter would miss a change made by
    another process (the CLI), so :meth:`Runtime.change_stamp` gives none without Redis.
    Both methods raise :class:`StoreUnavailable` when Redis does not answer.

    The key ignores the store's namespace prefix: a process that writes (the CLI) and one that
    caches (a worker) must meet on it even if their prefixes differ, and a deployment sharing the
    Redis only costs the others a re-read, never a stale answer.

    Inside :func:`stamp_snapshot` (one web request) the first read fetches every stamp made over
    the same Redis client in one round trip (MGET), and the request keeps those values: a token
    grant that consults the clients' and the keys' stamps pays one round trip, not two."""

    def __init__(self, store: RedisStore, name: str) -> None:
        self._client = store.client
        self._key = f"yitong:stamp:{name}"
        with _FAMILIES_LOCK:
            family = _FAMILIES.setdefault(self._client, [])
            if self._key not in family:
                family.append(self._key)
        self._family = family

    def read(self) -> int:
        snapshot = _SNAPSHOT.get()
        if snapshot is None:
            return int(self._client.get(self._key) or 0)
        if self._key not in snapshot:
            keys = list(self._family)
            snapshot.update(zip(keys, (int(v or 0) for v in self._client.mget(keys)), strict=True))
        return snapshot[self._key]

    def bump(self) -> None:
        self._client.incr(self._key)


# Redis client -> the stamp keys read through it (fetched together); forgotten with the client
_FAMILIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_FAMILIES_LOCK = threading.Lock()
_SNAPSHOT: ContextVar[dict[str, int] | None] = ContextVar("yitong_stamp_snapshot", default=None)


@contextmanager
def stamp_snapshot() -> Iterator[None]:
    """One unit of work (a web request) reads each change stamp once, all of them in one round trip
    (see :class:`ChangeStamp`); a change bumped meanwhile is seen by the next unit."""
    token = _SNAPSHOT.set({})
    try:
        yield
    finally:
        _SNAPSHOT.reset(token)


class ReplayCache:
    """Remembers values for a while; ``first_use`` is True only the first time within the TTL."""

    def __init__(self, store: KeyValueStore, namespace: str) -> None:
        self._store = store
        self._namespace = namespace

    def first_use(self, value: str, ttl_seconds: float) -> bool:
        if ttl_seconds <= 0:
            raise ValueError("a replay cache entry needs a positive lifetime")
        return self._store.add_if_absent(f"replay:{self._namespace}:{value}", ttl_seconds)


@dataclass(frozen=True)
class RateLimitResult:
    allowed: bool
    count: int
    limit: int
    retry_after_seconds: int


class RateLimiter:
    """Fixed-window limiter: at most ``limit`` hits per ``window_seconds`` for each key."""

    def __init__(self, store: KeyValueStore, namespace: str, limit: int, window_seconds: float) -> None:
        if limit < 1 or window_seconds <= 0:
            raise ValueError("a rate limit needs limit >= 1 and a positive window")
        self._store = store
        self._namespace = namespace
        self.limit = limit
        self.window_seconds = window_seconds

    def hit(self, key: str) -> RateLimitResult:
        count, remaining = self._store.incr_window(self._key(key), self.window_seconds)
        return self._result(count, remaining)

    def _key(self, key: str) -> str:
        return f"rate:{self._namespace}:{key}"

    def _result(self, count: int, remaining: float) -> RateLimitResult:
        allowed = count <= self.limit
        return RateLimitResult(allowed, count, self.limit, 0 if allowed else max(1, math.ceil(remaining)))


def hit_gated(gate: tuple[RateLimiter, str], *others: tuple[RateLimiter, str]) -> list[RateLimitResult]:
    """``gate``'s hit, then the others' only if the gate allowed it (a refused address must not push
    its target account's counters): one round trip to the store. The limiters share one store;
    the results are the gate's, then the others' when they were counted."""
    limiter = gate[0]
    hits = [gate, *others]
    if any(other._store is not limiter._store for other, _ in others):
        raise ValueError("hit_gated counts in one store")
    counted = limiter._store.incr_windows([(each._key(key), each.window_seconds) for each, key in hits],
                                          limiter.limit)
    return [each._result(count, remaining) for (each, _), (count, remaining) in zip(hits, counted, strict=False)]
