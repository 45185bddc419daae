"""Batch jobs whose queue entry Redis lost (issue 12, item 14): queued again once with their undone
documents, then failed with per-document states, never queued or running for ever. RQ workers
(`yitong worker`) run against a redis-server of the test's own, restarted without persistence."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from seal import jobs
from seal.pdf import Placement
from tests.helpers import clean_env
from tests.seal.pdfs import make_pdf
from tests.seal.support import ORG_NAME, ORG_USCC, open_seal_home


@pytest.fixture
def batch(private_redis, tmp_path):
    root = tmp_path / "home"
    home = open_seal_home(root, {"YITONG_REDIS_URL": private_redis.url})
    record = home.registry.create(holder_kind="org", holder_id=ORG_USCC, holder_name=ORG_NAME, seal_type=4,
                                  algorithm="p256", actor="test", reason="batch recovery")
    env = clean_env()
    env.update(YITONG_HOME=str(root), YITONG_ISSUER="http://127.0.0.1:9", YITONG_REDIS_URL=private_redis.url)
    return Batch(home.registry, home.home.runtime.jobs, record.esid, env)


class Batch:
    def __init__(self, registry, queue, esid: str, env: dict[str, str]) -> None:
        self.registry, self.queue, self.esid, self.env = registry, queue, esid, env

    def submit(self, count: int) -> str:
        documents = [(f"doc-{n}.pdf", make_pdf(1, tag=f"batch-{n}")) for n in range(count)]
        return jobs.submit(self.registry, self.queue, esid=self.esid, caller="business-system", subject=None,
                           org_uscc=ORG_USCC, request_id=None, client_ip=None, placement=Placement(), level="B-B",
                           documents=documents)

    def state(self, job_id: str) -> dict:
        return jobs.status(self.registry, job_id)

    @contextmanager
    def worker(self, *options: str, **env: str):
        """`yitong worker` (RQ) in a process group of its own, killed with its work horse on leaving."""
        exe = Path(sys.executable).parent / "yitong"
        process = subprocess.Popen([str(exe), "worker", *options], env={**self.env, **env}, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            yield process
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def finished(self, job_id: str) -> bool:
        return self.state(job_id)["status"] in ("done", "failed")


def wait_for(condition, seconds: float = 90, pause: float = 0.05):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(pause)


def test_a_queued_job_whose_queue_entry_redis_lost_is_run_when_a_worker_starts(batch, private_redis):
    job_id = batch.submit(3)
    private_redis.restart()  # no persistence: the queue entry is gone, the job is still "queued"
    with batch.worker():  # reconciles when it starts
        wait_for(lambda: batch.finished(job_id))
    state = batch.state(job_id)
    assert state["status"] == "done"
    assert [d["status"] for d in state["documents"]] == ["sealed"] * 3
    assert batch.registry.usage_count(batch.esid) == 3


def test_a_batch_lost_mid_way_is_queued_again_with_its_undone_documents(batch, private_redis):
    total = 200  # the most a job takes: on an idle machine a worker seals 30 before a poll sees 2
    job_id = batch.submit(total)
    with batch.worker():  # killed with its work horse mid-batch, as a host going down
        wait_for(lambda: batch.state(job_id)["done"] >= 2, pause=0.01)
    private_redis.restart()
    sealed_before = batch.state(job_id)["done"]
    assert 2 <= sealed_before < total, sealed_before
    # A run that was going on when Redis lost the entry may still be sealing: the status read
    # leaves the job alone until it has shown no sign of life for LOST_AFTER.
    assert jobs.status(batch.registry, job_id, queue=batch.queue)["status"] == "running"
    assert jobs.reconcile(batch.registry, batch.queue, lost_after=timedelta(0)) == [job_id]
    assert batch.state(job_id)["status"] == "queued"
    with batch.worker():
        wait_for(lambda: batch.finished(job_id), seconds=240)
    state = batch.state(job_id)
    assert (state["status"], state["done"], state["failed"]) == ("done", total, 0)
    assert all(d["status"] == "sealed" for d in state["documents"])
    assert batch.registry.usage_count(batch.esid) == total  # every document sealed once, none twice


def test_a_job_lost_twice_fails_with_the_state_of_each_document(batch, private_redis):
    job_id = batch.submit(3)
    private_redis.restart()
    assert jobs.reconcile(batch.registry, batch.queue) == [job_id]  # queued again, attempt 2 of 2
    private_redis.restart()
    state = jobs.status(batch.registry, job_id, queue=batch.queue)  # as GET /seal/jobs/{id} reads it
    assert (state["status"], state["done"], state["failed"]) == ("failed", 3, 3)
    assert {(d["status"], d["error"]) for d in state["documents"]} == {("failed", jobs.LOST)}
    assert jobs.reconcile(batch.registry, batch.queue, lost_after=timedelta(0)) == []  # ended for good


def test_a_worker_counts_its_jobs_and_what_they_sealed_on_its_metrics_and_the_apps(batch, tmp_path, monkeypatch):
    """Issue 16: `yitong worker --metrics-port` serves what its work horses did; a worker given the
    app's PROMETHEUS_MULTIPROC_DIR leaves it there for the app's /metrics to add up."""
    from prometheus_client.parser import text_string_to_metric_families

    from tests.helpers import free_port
    from yitong.cli.serve import _writer
    from yitong.observability import scrape

    def samples(text: str) -> dict:
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text) for s in family.samples}

    job = (("job", "yitong.cli.seal.run_job"), ("outcome", "finished"))
    sealed = (("format", "pdf"), ("level", "B-B"), ("outcome", "sealed"))
    port, folder = free_port(), tmp_path / "prom"
    with batch.worker("--metrics-port", str(port), PROMETHEUS_MULTIPROC_DIR=str(folder)) as process:
        first, second = batch.submit(2), batch.submit(1)
        wait_for(lambda: batch.finished(first) and batch.finished(second))

        def served() -> dict:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as answer:
                return samples(answer.read().decode())

        # The batch is done in the database just before its horse ends and the worker counts the job.
        wait_for(lambda: served().get(("yitong_jobs_total", job)) == 2, seconds=30, pause=0.1)
        served = served()
        writers = {_writer(path) for path in folder.glob("*.db")}
    assert served[("yitong_jobs_total", job)] == 2
    assert served[("yitong_job_duration_seconds_count", (("job", "yitong.cli.seal.run_job"),))] == 2
    assert served[("yitong_documents_sealed_total", sealed)] == 3  # counted in the work horses
    assert writers == {process.pid}, writers  # each horse's files folded into the worker's, none left over
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))  # what the app's /metrics reads on the same host
    summed = samples(scrape().decode())
    assert summed[("yitong_jobs_total", job)] == 2 and summed[("yitong_documents_sealed_total", sealed)] == 3
