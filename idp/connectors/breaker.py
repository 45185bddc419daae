"""A circuit breaker whose state lives in the runtime store (Redis when configured, so every
worker and host sees the same state; in-process otherwise).

- closed: calls go through; each call that ends "unavailable" adds one to a counter of
  consecutive failures, and any answer (match or no-match) resets it.
- open: after ``threshold`` consecutive failures; calls fail at once (reason ``circuit_open``)
  without touching the network, for ``cooldown`` seconds.
- half-open: after the cool-down, exactly one caller (across all workers) is let through as a
  probe; its success closes the circuit, its failure opens it for another cool-down. The probe
  slot expires after ``probe_ttl`` seconds in case the probing worker dies.
"""

from __future__ import annotations

import threading
import time
import weakref

from keys.runtime import RedisStore, Runtime

FAILURE_MEMORY_SECONDS = 24 * 3600
_lock = threading.Lock()


class MemoryBreakerStore:
    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._values: dict[str, tuple[int, float]] = {}

    def _live(self, key: str) -> tuple[int, float] | None:
        entry = self._values.get(key)
        if entry and entry[1] <= self._clock():
            del self._values[key]
            return None
        return entry

    def get(self, key: str) -> int:
        with self._lock:
            entry = self._live(key)
            return entry[0] if entry else 0

    def incr(self, key: str, ttl: float) -> int:
        with self._lock:
            entry = self._live(key)
            count = (entry[0] if entry else 0) + 1
            self._values[key] = (count, self._clock() + ttl)
            return count

    def put(self, key: str, ttl: float) -> None:
        with self._lock:
            self._values[key] = (1, self._clock() + ttl)

    def add_if_absent(self, key: str, ttl: float) -> bool:
        with self._lock:
            if self._live(key):
                return False
            self._values[key] = (1, self._clock() + ttl)
            return True

    def delete(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._values.pop(key, None)


class RedisBreakerStore:
    def __init__(self, client, prefix: str) -> None:
        self._client = client
        self._prefix = prefix

    def _k(self, key: str) -> str:
        return self._prefix + key

    def get(self, key: str) -> int:
        value = self._client.get(self._k(key))
        return int(value) if value is not None else 0

    def incr(self, key: str, ttl: float) -> int:
        pipe = self._client.pipeline()
        pipe.incr(self._k(key))
        pipe.pexpire(self._k(key), max(1, int(ttl * 1000)))
        count, _ = pipe.execute()
        return int(count)

    def put(self, key: str, ttl: float) -> None:
        self._client.set(self._k(key), b"1", px=max(1, int(ttl * 1000)))

    def add_if_absent(self, key: str, ttl: float) -> bool:
        return bool(self._client.set(self._k(key), b"1", nx=True, px=max(1, int(ttl * 1000))))

    def delete(self, *keys: str) -> None:
        self._client.delete(*[self._k(k) for k in keys])


_memory_stores: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def breaker_store(runtime: Runtime):
    """The breaker's state store for this runtime: Redis (shared by every worker and host), or one
    in-process store per runtime (shared by the threads of this process)."""
    if isinstance(runtime.store, RedisStore):
        return RedisBreakerStore(runtime.store.client, runtime.store.prefix)
    with _lock:
        return _memory_stores.setdefault(runtime.store, MemoryBreakerStore())


class CircuitBreaker:
    def __init__(self, store, name: str, *, threshold: int, cooldown: float, probe_ttl: float) -> None:
        if threshold < 1 or cooldown <= 0 or probe_ttl <= 0:
            raise ValueError("a circuit breaker needs threshold >= 1 and positive cool-down and probe times")
        self._store = store
        self.name = name
        self.threshold = threshold
        self.cooldown = cooldown
        self.probe_ttl = probe_ttl
        self._failures = f"breaker:{name}:failures"
        self._open = f"breaker:{name}:open"
        self._probe = f"breaker:{name}:probe"

    def state(self) -> str:
        if self._store.get(self._open):
            return "open"
        return "half_open" if self._store.get(self._failures) >= self.threshold else "closed"

    def allow(self) -> bool:
        """May this call go to the network? (In half-open state only the one probe may.)"""
        if self._store.get(self._open):
            return False
        if self._store.get(self._failures) >= self.threshold:
            return self._store.add_if_absent(self._probe, self.probe_ttl)
        return True

    def record_success(self) -> None:
        self._store.delete(self._failures, self._open, self._probe)

    def record_failure(self) -> None:
        if self._store.incr(self._failures, FAILURE_MEMORY_SECONDS) >= self.threshold:
            self._store.put(self._open, self.cooldown)
            self._store.delete(self._probe)
