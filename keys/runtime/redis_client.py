"""The Redis client of the request path: short timeouts, and every outage as :class:`StoreUnavailable`.

A request must not wait for a Redis that is gone or stalled (a paused server accepts connections
and never answers): one connect and one read of at most a second each, and one retry, which is
what it takes to replace a pooled connection that a restarted server closed. Whatever cannot
reach Redis then, be it the stores here, sessions, circuit breakers or RQ's enqueue, raises
:class:`StoreUnavailable` instead of redis-py's own errors, so that the application answers
503 in one place (and nothing carries on without its replay or rate check).

Not for RQ workers: a worker waits on BLPOP for minutes, which needs a socket without a read
timeout (:meth:`keys.runtime.jobs.RQJobQueue.worker`).
"""

from __future__ import annotations

from contextlib import contextmanager

import redis
from redis.backoff import NoBackoff
from redis.client import Pipeline
from redis.retry import Retry

from keys.runtime.cache import StoreUnavailable

CONNECT_TIMEOUT_SECONDS = 1.0
READ_TIMEOUT_SECONDS = 1.0
RETRIES = 1


@contextmanager
def _unavailable_on_outage():
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:  # incl. refused, reset, loading, timeouts
        raise StoreUnavailable(f"Redis did not answer ({type(exc).__name__})") from exc


class _FailFastPipeline(Pipeline):
    def execute(self, raise_on_error: bool = True):
        with _unavailable_on_outage():
            return super().execute(raise_on_error)

    def immediate_execute_command(self, *args, **options):  # WATCH and what follows it
        with _unavailable_on_outage():
            return super().immediate_execute_command(*args, **options)


class FailFastRedis(redis.Redis):
    """redis.Redis whose commands and pipelines raise :class:`StoreUnavailable` on an outage."""

    def execute_command(self, *args, **options):
        with _unavailable_on_outage():
            return super().execute_command(*args, **options)

    def pipeline(self, transaction: bool = True, shard_hint=None) -> Pipeline:
        return _FailFastPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)


def fail_fast_client(url: str) -> FailFastRedis:
    return FailFastRedis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
                                  socket_timeout=READ_TIMEOUT_SECONDS, retry=Retry(NoBackoff(), RETRIES))
