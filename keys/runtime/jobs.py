"""Background jobs: RQ over Redis in production, a thread pool in the embedded default.

Jobs are named by an importable function path and JSON-friendly arguments, so that the same
call works in both implementations and an RQ worker on another host can run it.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from keys import observe

log = logging.getLogger("yitong.jobs")
JOB_TIMEOUT_SECONDS = 6 * 3600  # a hung worker's job is killed after this (RQ's own default is 180 s)
# How long a worker's pub/sub thread (RQ's channel for "stop this job") waits for a message in one go.
# RQ asks for 60 s; when the worker stops, its thread can have read the UNSUBSCRIBE reply before the
# stop flag is set and then waits the whole 60 s for a subscription that never comes (redis-py 8,
# rq 3), so every `yitong worker --burst` and every SIGTERM took a minute longer than its jobs.
PUBSUB_WAIT_SECONDS = 1


@dataclass(frozen=True)
class JobStatus:
    id: str
    state: str  # queued | started | finished | failed | unknown
    result: Any = None
    error: str | None = None


def resolve(function_path: str):
    module_name, _, attribute = function_path.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"job function must be 'module:function', got {function_path!r}")
    return getattr(importlib.import_module(module_name), attribute)


class JobQueue(Protocol):
    durable: bool

    def enqueue(self, function_path: str, *args: Any, **kwargs: Any) -> str: ...
    def status(self, job_id: str) -> JobStatus: ...
    def counts(self) -> dict[str, int]: ...


class ThreadJobQueue:
    """In-process pool. Not durable: queued and running jobs are lost if the process stops."""

    durable = False

    def __init__(self, workers: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="yitong-job")
        self._jobs: dict[str, Future] = {}
        self._started: set[str] = set()
        self._lock = threading.Lock()

    def enqueue(self, function_path: str, *args: Any, **kwargs: Any) -> str:
        function = resolve(function_path)
        job_id = uuid.uuid4().hex

        def run():
            with self._lock:
                self._started.add(job_id)
            started, outcome = time.monotonic(), "failed"
            try:
                result = function(*args, **kwargs)
                outcome = "finished"
                return result
            finally:
                _count(function_path.replace(":", "."), outcome, started)

        with self._lock:
            self._jobs[job_id] = self._pool.submit(run)
        return job_id

    def status(self, job_id: str) -> JobStatus:
        with self._lock:
            future = self._jobs.get(job_id)
            started = job_id in self._started
        if future is None:
            return JobStatus(job_id, "unknown")
        if not future.done():
            return JobStatus(job_id, "started" if started else "queued")
        error = future.exception()
        if error is not None:
            return JobStatus(job_id, "failed", error=f"{type(error).__name__}: {error}")
        return JobStatus(job_id, "finished", result=future.result())

    def counts(self) -> dict[str, int]:
        """Jobs waiting, running and failed (for /metrics and /readyz); this process's only."""
        with self._lock:
            futures = list(self._jobs.items())
            started = set(self._started)
        waiting = sum(1 for job_id, f in futures if not f.done() and job_id not in started)
        running = sum(1 for job_id, f in futures if not f.done() and job_id in started)
        failed = sum(1 for _, f in futures if f.done() and not f.cancelled() and f.exception() is not None)
        return {"queued": waiting, "started": running, "failed": failed}

    def wait(self, job_id: str, timeout: float | None = None) -> JobStatus:
        with self._lock:
            future = self._jobs.get(job_id)
        if future is not None:
            try:
                future.exception(timeout=timeout)
            except TimeoutError:
                pass
        return self.status(job_id)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)


def _count(job: str, outcome: str, started: float) -> None:
    try:
        observe.job_done(job, outcome, time.monotonic() - started)
    except Exception:  # a metric must never cost a job
        log.exception("could not count a job")


class RQJobQueue:
    """RQ (Redis Queue): durable while Redis is; run workers with ``yitong worker``.

    ``connection`` serves requests (enqueue, status: short timeouts); ``url`` gives workers their
    own connection, whose read timeout RQ raises above its blocking dequeue's wait.
    """

    durable = True

    def __init__(self, connection, name: str = "yitong", url: str | None = None) -> None:
        from rq import Queue

        # RQ kills a job after 180 s by default; a batch of many large documents runs longer. Each
        # document has its own time budget and a job that stops showing signs of life is reconciled
        # (seal/jobs.py), so the queue's own limit only has to catch a worker that hangs outright.
        self._queue = Queue(name, connection=connection, default_timeout=JOB_TIMEOUT_SECONDS)
        self._url = url

    def worker(self, maintenance: Callable[[], object] | None = None, maintenance_seconds: int = 60,
               in_process: bool = False):
        """An RQ worker for this queue, on a connection of its own when the URL is known.

        ``maintenance`` runs when the worker starts and then every ``maintenance_seconds``, with
        RQ's own registry clean-up (e.g. to reconcile the database with the queue). ``in_process``
        runs each job in this process (RQ's SimpleWorker) instead of a forked work horse.
        """
        import redis
        from rq import Queue, SimpleWorker, Worker

        class MaintainingWorker(SimpleWorker if in_process else Worker):
            """Also counts each job's outcome and time (``yitong_jobs_total``, measured here, in the
            worker, since a horse killed for its time-out counts nothing itself), and folds the
            metrics the job's work horse wrote into the worker's own files."""

            horse = 0

            def fork_work_horse(self, job, queue) -> None:
                super().fork_work_horse(job, queue)
                self.horse = self._horse_pid  # the child never returns here

            def execute_job(self, job, queue) -> None:
                started = time.monotonic()
                try:
                    super().execute_job(job, queue)
                finally:
                    try:
                        state = job.get_status(refresh=True)
                        state = getattr(state, "value", state)
                    except Exception:  # the job's record expired or Redis is gone: not a metric's concern
                        state = "unknown"
                    _count(job.func_name, state if state in ("finished", "failed") else "failed", started)
                    if self.horse:
                        try:
                            observe.fold_dead_process(self.horse, os.getpid())
                        except OSError:
                            log.exception("could not fold the metrics of work horse %s", self.horse)
                        self.horse = 0

            def subscribe(self) -> None:
                """RQ's subscription, with a pub/sub thread that notices a stop within a second."""
                self.pubsub = self.connection.pubsub()
                self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
                self.pubsub_thread = self.pubsub.run_in_thread(
                    sleep_time=PUBSUB_WAIT_SECONDS, daemon=True, exception_handler=self._pubsub_exception_handler)

            def run_maintenance_tasks(self) -> None:
                super().run_maintenance_tasks()
                if maintenance is not None:
                    try:
                        maintenance()
                    except Exception:  # a failed round must not stop the worker; the next one retries
                        log.exception("job queue maintenance failed")

        connection = (self._queue.connection if self._url is None else
                      redis.Redis.from_url(self._url, socket_connect_timeout=5, socket_timeout=5))
        return MaintainingWorker([Queue(self._queue.name, connection=connection)], connection=connection,
                                 maintenance_interval=maintenance_seconds)

    @property
    def queue(self):
        return self._queue

    def counts(self) -> dict[str, int]:
        """Jobs waiting, running and failed in Redis (every host's and worker's), for /metrics and /readyz."""
        queue = self._queue
        return {"queued": queue.count, "started": queue.started_job_registry.count,
                "failed": queue.failed_job_registry.count}

    def enqueue(self, function_path: str, *args: Any, **kwargs: Any) -> str:
        resolve(function_path)  # fail now, not in a worker, on a typo
        job = self._queue.enqueue(function_path.replace(":", "."), args=args, kwargs=kwargs)
        return job.id

    def status(self, job_id: str) -> JobStatus:
        from rq.exceptions import NoSuchJobError
        from rq.job import Job

        try:
            job = Job.fetch(job_id, connection=self._queue.connection)
        except NoSuchJobError:
            return JobStatus(job_id, "unknown")
        state = job.get_status(refresh=True)
        state = getattr(state, "value", state)
        if state == "finished":
            return JobStatus(job_id, "finished", result=job.return_value())
        if state == "failed":
            result = job.latest_result()
            message = (result.exc_string or "").strip().splitlines()[-1:] if result else []
            return JobStatus(job_id, "failed", error=message[0] if message else "failed")
        return JobStatus(job_id, "started" if state == "started" else "queued")
