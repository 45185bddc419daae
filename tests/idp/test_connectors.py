"""idp/connectors against the real reference base library over HTTP: answers and evidence, signing,
timeouts, 5xx, retries, and the circuit breaker (state in the runtime store: in-process, or Redis
shared between workers) opening and recovering."""

from __future__ import annotations

import logging
import secrets
import time

import pytest

from idp.connectors import CircuitBreaker, ConnectorConfig, Result, build_connectors
from idp.connectors.breaker import breaker_store
from keys.runtime import open_runtime
from tests.baselib.server import (
    CHAN_HK,
    COMPANY,
    LI,
    LI_PHONE,
    PILOT,
    ZHANG,
    ZHANG_CARD,
    ZHANG_PHONE,
    ZHAO_PHONE,
    running_baselib,
    running_front,
)
from tests.conftest import REDIS_URL
from tests.helpers import check_run, free_port, issue_tls_server_certificate, run_yitong


@pytest.fixture(scope="module")
def baselib(tmp_path_factory):
    with running_baselib(tmp_path_factory.mktemp("baselib")) as server:
        yield server


def connectors(url, key, runtime=None, **options):
    config = ConnectorConfig(url, key, **{"timeout": 5.0, "retries": 2, "backoff": 0.05, **options})
    return build_connectors(config, runtime or open_runtime(None))


def upstream(baselib) -> str:
    return baselib.url.removesuffix("/baselib")


def test_answers_with_evidence(baselib, caplog):
    caplog.set_level(logging.INFO, logger="yitong.idp.connectors")
    sources = connectors(baselib.url, baselib.key)
    match = sources.population.verify(*ZHANG)
    assert match.result is Result.MATCH and match.matched and match.reason is None
    assert match.evidence["library"] == "population" and match.evidence["stand_in"] is True
    assert match.checked_at.tzinfo is not None
    assert sources.population.verify("张三丰", ZHANG[1]).result is Result.NO_MATCH
    assert sources.population.verify(*CHAN_HK).result is Result.MATCH
    assert sources.legal_person.verify(COMPANY[1], COMPANY[0], ZHANG[0], ZHANG[1]).result is Result.MATCH
    assert sources.legal_person.verify(PILOT[1], PILOT[0], ZHANG[0]).result is Result.NO_MATCH
    assert sources.business_licence.verify(COMPANY[1], COMPANY[0]).result is Result.MATCH
    bank = sources.bank_4_factor.verify(ZHANG[0], ZHANG[1], ZHANG_CARD, ZHANG_PHONE)
    assert bank.result is Result.MATCH and bank.source == "bank_4_factor"
    assert bank.evidence["library"] == "bank_4_factor" and bank.evidence["checks"]["phone"] == "match"
    assert sources.bank_4_factor.verify(LI[0], LI[1], "6222020000000000000", LI_PHONE).result is Result.NO_MATCH
    carrier = sources.carrier_3_factor.verify(LI[0], LI[1], LI_PHONE)
    assert carrier.result is Result.MATCH and carrier.evidence["library"] == "carrier_3_factor"
    assert sources.carrier_3_factor.verify(ZHANG[0], ZHANG[1], ZHAO_PHONE).result is Result.NO_MATCH
    for secret in (ZHANG[0], ZHANG[1], LI[1], COMPANY[0], ZHANG_CARD, ZHANG_PHONE, LI_PHONE):
        assert secret not in caplog.text
    assert "connector population: match" in caplog.text


def test_a_wrong_key_is_unavailable_not_no_match(baselib):
    verdict = connectors(baselib.url, secrets.token_bytes(32)).population.verify(*ZHANG)
    assert verdict.result is Result.UNAVAILABLE and verdict.reason == "http_401"


def test_a_timeout_is_unavailable_and_not_retried(baselib):
    with running_front(upstream(baselib), ["sleep"], sleep_seconds=3) as front:
        verdict = connectors(front.url, baselib.key, timeout=0.5).population.verify(*ZHANG)
        assert verdict.result is Result.UNAVAILABLE and verdict.reason == "timeout"
        assert front.hits == 1


def test_503_is_retried_with_backoff_and_500_is_not(baselib):
    with running_front(upstream(baselib), [503, 503, "forward"]) as front:
        verdict = connectors(front.url, baselib.key, retries=2).population.verify(*ZHANG)
        assert verdict.result is Result.MATCH and front.hits == 3  # each retry signed afresh (new nonce)
    with running_front(upstream(baselib), [503]) as front:
        verdict = connectors(front.url, baselib.key, retries=1).population.verify(*ZHANG)
        assert (verdict.result, verdict.reason, front.hits) == (Result.UNAVAILABLE, "http_503", 2)
    with running_front(upstream(baselib), [500, "forward"]) as front:
        verdict = connectors(front.url, baselib.key, retries=2).population.verify(*ZHANG)
        assert (verdict.result, verdict.reason, front.hits) == (Result.UNAVAILABLE, "http_500", 1)


def test_nobody_listening_is_unavailable(baselib):
    verdict = connectors(f"http://127.0.0.1:{free_port()}/baselib", baselib.key, retries=1).population.verify(*ZHANG)
    assert verdict.result is Result.UNAVAILABLE and verdict.reason == "connection"


def test_a_body_that_is_not_a_result_is_unavailable(baselib):
    with running_front(upstream(baselib), [200]) as front:  # 200 with a problem body
        verdict = connectors(front.url, baselib.key).population.verify(*ZHANG)
        assert (verdict.result, verdict.reason) == (Result.UNAVAILABLE, "bad_response")


def test_the_breaker_opens_fails_fast_and_recovers(storage, baselib):
    with running_front(upstream(baselib), [503, 503, "forward"]) as front:
        population = connectors(front.url, baselib.key, storage.runtime, retries=0, breaker_threshold=2,
                                breaker_cooldown=1.0).population
        assert population.verify(*ZHANG).reason == "http_503"
        assert population.verify(*ZHANG).reason == "http_503"
        assert population.client.breaker.state() == "open"
        fast = population.verify(*ZHANG)
        assert (fast.result, fast.reason, front.hits) == (Result.UNAVAILABLE, "circuit_open", 2)  # no request
        time.sleep(1.2)  # the cool-down
        assert population.client.breaker.state() == "half_open"
        assert population.verify(*ZHANG).result is Result.MATCH and front.hits == 3  # the probe
        assert population.client.breaker.state() == "closed"
        assert population.verify(*ZHANG).result is Result.MATCH


def test_a_failed_probe_opens_the_breaker_again(storage, baselib):
    with running_front(upstream(baselib), [503]) as front:
        population = connectors(front.url, baselib.key, storage.runtime, retries=0, breaker_threshold=1,
                                breaker_cooldown=0.5).population
        assert population.verify(*ZHANG).reason == "http_503"
        assert population.verify(*ZHANG).reason == "circuit_open"
        time.sleep(0.7)
        assert population.verify(*ZHANG).reason == "http_503" and front.hits == 2  # the probe failed
        assert population.verify(*ZHANG).reason == "circuit_open" and front.hits == 2


def test_breaker_state_is_shared_between_workers(storage, baselib):
    """Two connector sets, as two workers would build them; with Redis, two separate clients."""
    other_runtime = (open_runtime(REDIS_URL, prefix=storage.runtime.store.prefix) if storage.redis_url
                     else storage.runtime)
    with running_front(upstream(baselib), [503]) as front:
        options = {"retries": 0, "breaker_threshold": 2, "breaker_cooldown": 30.0}
        worker_a = connectors(front.url, baselib.key, storage.runtime, **options).population
        worker_b = connectors(front.url, baselib.key, other_runtime, **options).population
        assert worker_a.verify(*ZHANG).reason == "http_503"
        assert worker_b.verify(*ZHANG).reason == "http_503"
        assert worker_a.verify(*ZHANG).reason == "circuit_open"
        assert worker_b.verify(*ZHANG).reason == "circuit_open" and front.hits == 2
    # Different sources keep their own breakers.
    assert connectors(baselib.url, baselib.key, storage.runtime, **options).business_licence.verify(
        COMPANY[1], COMPANY[0]).result is Result.MATCH


def test_half_open_lets_exactly_one_probe_through(storage):
    other_runtime = (open_runtime(REDIS_URL, prefix=storage.runtime.store.prefix) if storage.redis_url
                     else storage.runtime)
    name = f"test-{secrets.token_hex(4)}"
    a = CircuitBreaker(breaker_store(storage.runtime), name, threshold=1, cooldown=0.3, probe_ttl=5)
    b = CircuitBreaker(breaker_store(other_runtime), name, threshold=1, cooldown=0.3, probe_ttl=5)
    assert a.allow() and b.allow()
    a.record_failure()
    assert not a.allow() and not b.allow() and b.state() == "open"
    time.sleep(0.4)
    assert [a.allow(), b.allow(), a.allow()] == [True, False, False]
    b.record_success()
    assert a.state() == b.state() == "closed" and a.allow() and b.allow()


def test_https_to_a_library_behind_a_private_ca(baselib, yitong_env, tmp_path):
    check_run(run_yitong(["db", "upgrade"], yitong_env), "yitong db upgrade")
    chain, key, root = issue_tls_server_certificate(yitong_env, tmp_path)
    with running_front(upstream(baselib), ["forward"], tls=(chain, key)) as front:
        assert front.url.startswith("https://")
        trusted = connectors(front.url, baselib.key, ca_file=str(root)).population.verify(*ZHANG)
        assert trusted.result is Result.MATCH
        untrusted = connectors(front.url, baselib.key).population.verify(*ZHANG)  # the system's trust store
        assert (untrusted.result, untrusted.reason) == (Result.UNAVAILABLE, "tls")
        assert front.hits == 1  # the untrusted attempt never reached the handler, and was not retried
