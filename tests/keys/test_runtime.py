"""Replay cache, rate limiter and job queue, in-process and on Redis (with the storage fixture)."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from keys.runtime import MemoryStore, RateLimiter, ReplayCache, ThreadJobQueue, stamp_snapshot
from keys.runtime.cache import hit_gated


def test_replay_cache_accepts_a_value_once(storage):
    cache = storage.runtime.replay_cache("dpop-jti")
    assert cache.first_use("jti-1", ttl_seconds=60) is True
    assert cache.first_use("jti-1", ttl_seconds=60) is False
    assert cache.first_use("jti-2", ttl_seconds=60) is True


def test_replay_cache_namespaces_do_not_collide(storage):
    assert storage.runtime.replay_cache("a").first_use("x", 60)
    assert storage.runtime.replay_cache("b").first_use("x", 60)


def test_replay_cache_is_atomic_under_concurrency(storage):
    cache = storage.runtime.replay_cache("race")
    results = []
    barrier = threading.Barrier(8)

    def attempt():
        barrier.wait()
        results.append(cache.first_use("same-jti", 60))

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 1 and len(results) == 8


def test_replay_cache_forgets_after_the_ttl():
    now = [1000.0]
    cache = ReplayCache(MemoryStore(clock=lambda: now[0]), "ttl")
    assert cache.first_use("v", ttl_seconds=30)
    now[0] += 29
    assert not cache.first_use("v", ttl_seconds=30)
    now[0] += 2
    assert cache.first_use("v", ttl_seconds=30)


def test_replay_entry_expires_in_real_time(storage):
    cache = storage.runtime.replay_cache("short")
    assert cache.first_use("v", ttl_seconds=0.2)
    assert not cache.first_use("v", ttl_seconds=0.2)
    time.sleep(0.3)  # the behaviour under test is the passage of time itself
    assert cache.first_use("v", ttl_seconds=0.2)


def test_rate_limiter_allows_the_limit_then_refuses_with_retry_after(storage):
    limiter = storage.runtime.rate_limiter("login", limit=3, window_seconds=60)
    results = [limiter.hit("13800138000") for _ in range(4)]
    assert [r.allowed for r in results] == [True, True, True, False]
    assert 1 <= results[-1].retry_after_seconds <= 60
    assert limiter.hit("13900139000").allowed  # another key has its own window


def test_rate_limit_window_resets():
    now = [0.0]
    limiter = RateLimiter(MemoryStore(clock=lambda: now[0]), "sms", limit=1, window_seconds=60)
    assert limiter.hit("k").allowed
    assert not limiter.hit("k").allowed
    now[0] += 61
    assert limiter.hit("k").allowed


def test_gated_hits_count_the_others_only_while_the_gate_allows(storage):
    gate = storage.runtime.rate_limiter("gate-ip", limit=2, window_seconds=60)
    pair = storage.runtime.rate_limiter("gate-pair", limit=1, window_seconds=600)
    account = storage.runtime.rate_limiter("gate-account", limit=5, window_seconds=3600)
    first = hit_gated((gate, "10.0.0.1"), (pair, "alice:10.0.0.1"), (account, "alice"))
    assert [(r.allowed, r.count) for r in first] == [(True, 1), (True, 1), (True, 1)]
    second = hit_gated((gate, "10.0.0.1"), (pair, "alice:10.0.0.1"), (account, "alice"))
    assert [(r.allowed, r.count) for r in second] == [(True, 2), (False, 2), (True, 2)]
    assert 1 <= second[1].retry_after_seconds <= 600  # each counter keeps its own window
    refused = hit_gated((gate, "10.0.0.1"), (pair, "alice:10.0.0.1"), (account, "alice"))
    assert len(refused) == 1 and not refused[0].allowed and 1 <= refused[0].retry_after_seconds <= 60
    # the refused hit left the others as they were: the account's next count is its third
    assert account.hit("alice").count == 3 and pair.hit("alice:10.0.0.1").count == 3


def test_gated_hits_refuse_limiters_of_different_stores():
    with pytest.raises(ValueError):
        hit_gated((RateLimiter(MemoryStore(), "a", 1, 60), "k"), (RateLimiter(MemoryStore(), "b", 1, 60), "k"))


def test_rate_limiter_refuses_nonsense_limits():
    with pytest.raises(ValueError):
        RateLimiter(MemoryStore(), "x", limit=0, window_seconds=60)


def test_job_queue_runs_a_job_and_reports_its_result(storage):
    jobs = storage.runtime.jobs
    job_id = jobs.enqueue("tests.keys.jobs_fixture:add", 2, 3)
    status = _finish(storage, job_id)
    assert (status.state, status.result) == ("finished", 5)
    assert jobs.durable is (storage.kind == "postgres")


def test_job_queue_reports_a_failed_job(storage):
    job_id = storage.runtime.jobs.enqueue("tests.keys.jobs_fixture:explode", "bad PDF")
    status = _finish(storage, job_id)
    assert status.state == "failed"
    assert "bad PDF" in status.error


def test_job_queue_refuses_an_unknown_function_at_enqueue_time(storage):
    with pytest.raises((ImportError, AttributeError)):
        storage.runtime.jobs.enqueue("tests.keys.jobs_fixture:nope")


def test_unknown_job_id_is_unknown(storage):
    assert storage.runtime.jobs.status("0" * 32).state == "unknown"


def _finish(storage, job_id):
    jobs = storage.runtime.jobs
    if isinstance(jobs, ThreadJobQueue):
        return jobs.wait(job_id, timeout=10)
    assert jobs.status(job_id).state == "queued"
    jobs.worker(in_process=True).work(burst=True)  # what `yitong worker --burst` runs, in this process
    return jobs.status(job_id)


def _redis_runtime():
    from keys.runtime import open_runtime
    from tests.conftest import REDIS_URL, require_services

    require_services("redis")
    return open_runtime(REDIS_URL, prefix=f"yitong-test:{uuid.uuid4().hex[:12]}:")


def test_a_request_reads_every_change_stamp_once_and_together():
    """Inside stamp_snapshot() (one web request) the first read fetches all stamps of the Redis client
    at once: a stamp bumped after that first read keeps, for the rest of the request, the value it had
    when the request read the first one; the next request sees the bump."""
    runtime = _redis_runtime()
    name = uuid.uuid4().hex[:12]
    clients, keys = runtime.change_stamp(f"test-clients-{name}"), runtime.change_stamp(f"test-keys-{name}")
    writer = _redis_runtime().change_stamp(f"test-keys-{name}")  # another process's view of the same stamp
    keys_before = keys.read()
    with stamp_snapshot():
        clients.read()  # fetches the keys' stamp along with it
        writer.bump()
        assert keys.read() == keys_before
        assert keys.read() == keys_before  # still one value for the whole request
    assert keys.read() == keys_before + 1  # outside a request: read afresh
    with stamp_snapshot():
        assert keys.read() == keys_before + 1 and clients.read() == clients.read()
