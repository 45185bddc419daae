"""Batch sealing on the JobQueue (RQ over Redis in production; a thread pool, not durable, in the
embedded default): documents and progress live in seal_jobs / seal_job_documents.

The caller's authorisation is decided when the job is submitted (token, grant, step-up); the
job re-checks only that the seal is still active before each document. Every sealed document
is one use in the usage log.

A job whose queue entry is gone (Redis restarted without persistence, or RQ ended the run
without the job recording its end) is queued once more with its undone documents, then failed:
see :func:`reconcile`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update

from keys import observe
from keys.ids import new_id
from keys.runtime import StoreUnavailable
from keys.storage import utcnow
from seal.document import document_format, seal_document
from seal.models import job_documents_table, jobs_table
from seal.pdf import PdfLimits, Placement
from seal.registry import SealError, SealRegistry, sealer_for

MAX_DOCUMENTS = 200
JOB_FUNCTION = "yitong.cli.seal:run_job"  # composition root: builds the registry from settings
UNFINISHED = ("queued", "running")
MAX_ATTEMPTS = 2  # the first run and one more after the queue lost the job; then it fails
LOST_AFTER = timedelta(minutes=5)  # no sign of life for this long: no run is going on any more
LOST = "not sealed: the job queue lost this job twice"

log = logging.getLogger("yitong.seal.jobs")


def submit(registry: SealRegistry, queue, *, esid: str, caller: str, subject: str | None, org_uscc: str | None,
           request_id: str | None, client_ip: str | None, placement: Placement, level: str,
           documents: list[tuple[str, bytes]]) -> str:
    if not documents:
        raise SealError("a job needs at least one document", kind="no-document")
    if len(documents) > MAX_DOCUMENTS:
        raise SealError(f"a job takes at most {MAX_DOCUMENTS} documents", status=413, kind="too-many-documents")
    job_id = new_id()
    params = {"page": placement.page, "x_mm": placement.x_mm, "y_mm": placement.y_mm, "keyword": placement.keyword,
              "pages": placement.pages if isinstance(placement.pages, str) else list(placement.pages),
              "riding": placement.riding, "level": level}
    with registry.engine.begin() as conn:
        conn.execute(insert(jobs_table).values(
            job_id=job_id, esid=esid, caller=caller, subject=subject, org_uscc=org_uscc, request_id=request_id,
            client_ip=client_ip, params=params, status="queued", total=len(documents), done=0, failed=0,
            created_at=utcnow(), finished_at=None, attempts=1, heartbeat_at=utcnow()))
        for position, (name, data) in enumerate(documents):
            conn.execute(insert(job_documents_table).values(job_id=job_id, position=position, name=name[:255],
                                                            input=data, status="pending"))
    try:
        queue_id = queue.enqueue(JOB_FUNCTION, job_id)
    except StoreUnavailable:  # the caller is told 503 and sends again: leave no job that would never run
        with registry.engine.begin() as conn:
            conn.execute(delete(job_documents_table).where(job_documents_table.c.job_id == job_id))
            conn.execute(delete(jobs_table).where(jobs_table.c.job_id == job_id))
        raise
    with registry.engine.begin() as conn:
        conn.execute(update(jobs_table).where(jobs_table.c.job_id == job_id).values(queue_id=queue_id))
    return job_id


def run(registry: SealRegistry, job_id: str, *, max_bytes: int | None = None, limits: PdfLimits | None = None) -> dict:
    """Seal every pending document of a job, recording progress as it goes.

    Each document is read within ``limits`` (pages, objects, seconds) in the worker's own
    thread: one hostile document is refused and the job goes on to the next.
    """
    with registry.engine.connect() as conn:
        job = conn.execute(select(jobs_table).where(jobs_table.c.job_id == job_id)).first()
    if job is None:
        raise SealError(f"no job {job_id}", status=404, kind="job-not-found")
    if job.status not in UNFINISHED:  # a late run of a job already failed by reconcile()
        return status(registry, job_id)
    with registry.engine.begin() as conn:
        conn.execute(update(jobs_table).where(jobs_table.c.job_id == job_id).values(status="running"))
    params = dict(job.params)
    level = params.pop("level")
    pages = params.pop("pages")
    placement = Placement(pages=pages if isinstance(pages, str) else tuple(pages), **params)
    sealer = None
    with registry.engine.connect() as conn:
        positions = conn.execute(select(job_documents_table.c.position).where(
            job_documents_table.c.job_id == job_id, job_documents_table.c.status == "pending")
            .order_by(job_documents_table.c.position)).scalars().all()
    for position in positions:
        _sign_of_life(registry, job_id)
        where = (job_documents_table.c.job_id == job_id, job_documents_table.c.position == position)
        with registry.engine.connect() as conn:
            data = conn.execute(select(job_documents_table.c.input).where(*where)).scalar()
        try:
            if sealer is None or registry.get(job.esid).status != "active":
                sealer = sealer_for(registry, job.esid, tsa=level != "B-B")
            result = seal_document(sealer, data, placement, level=level, max_bytes=max_bytes, limits=limits)
        except SealError as exc:  # PdfRefused, ImageError included
            observe.sealed(document_format(data), level, "refused")
            with registry.engine.begin() as conn:
                if _settle(conn, where, status="refused", error=str(exc), input=None):
                    conn.execute(update(jobs_table).where(jobs_table.c.job_id == job_id).values(
                        done=jobs_table.c.done + 1, failed=jobs_table.c.failed + 1))
            continue
        # The document, the job's count and the usage row commit together, and only for a document
        # still pending: a run killed between them, or a second run of a job reconciled while the
        # first was still going, never counts or logs a document twice or delivers one unlogged.
        registry.audit_chain.prepare()  # the TSA for checkpoints loads outside the transaction
        with registry.engine.begin() as conn:
            if not _settle(conn, where, status="sealed", output=result.document, input=None,
                           sm3_before=result.sm3_before, sm3_after=result.sm3_after):
                continue
            conn.execute(update(jobs_table).where(jobs_table.c.job_id == job_id).values(done=jobs_table.c.done + 1))
            observe.sealed(result.format, result.level, "sealed")
            registry.log_use(job.esid, caller=job.caller, subject=job.subject, org_uscc=job.org_uscc,
                             sm3_before=result.sm3_before, sm3_after=result.sm3_after, request_id=job.request_id,
                             client_ip=job.client_ip, conn=conn,
                             detail={"job": job_id, "position": position, "level": result.level,
                                     "format": result.format})
    with registry.engine.begin() as conn:
        conn.execute(update(jobs_table).where(jobs_table.c.job_id == job_id).values(status="done",
                                                                                   finished_at=utcnow()))
    return status(registry, job_id)


def _settle(conn, where, **values) -> bool:
    """Give a still-pending document its outcome; False when another run already has."""
    done = conn.execute(update(job_documents_table).where(*where, job_documents_table.c.status == "pending")
                        .values(**values))
    return done.rowcount == 1


def status(registry: SealRegistry, job_id: str, queue=None) -> dict:
    """The job and its documents; with ``queue``, an unfinished job is reconciled with it first."""
    if queue is not None:
        reconcile(registry, queue, job_id=job_id)
    with registry.engine.connect() as conn:
        job = conn.execute(select(jobs_table).where(jobs_table.c.job_id == job_id)).first()
        if job is None:
            raise SealError(f"no job {job_id}", status=404, kind="job-not-found")
        documents = conn.execute(select(
            job_documents_table.c.position, job_documents_table.c.name, job_documents_table.c.status,
            job_documents_table.c.error, job_documents_table.c.sm3_after).where(
            job_documents_table.c.job_id == job_id).order_by(job_documents_table.c.position)).all()
    return {"job_id": job.job_id, "esid": job.esid, "status": job.status, "total": job.total, "done": job.done,
            "failed": job.failed, "owner": {"caller": job.caller, "subject": job.subject},
            "documents": [{"position": d.position, "name": d.name, "status": d.status, "error": d.error,
                           "sm3_after": d.sm3_after} for d in documents]}


def output(registry: SealRegistry, job_id: str, position: int) -> bytes | None:
    with registry.engine.connect() as conn:
        return conn.execute(select(job_documents_table.c.output).where(
            job_documents_table.c.job_id == job_id, job_documents_table.c.position == position)).scalar()


def _sign_of_life(registry: SealRegistry, job_id: str) -> None:
    with registry.engine.begin() as conn:
        conn.execute(update(jobs_table).where(jobs_table.c.job_id == job_id).values(heartbeat_at=utcnow()))


def reconcile(registry: SealRegistry, queue, *, job_id: str | None = None,
              lost_after: timedelta = LOST_AFTER) -> list[str]:
    """Queue again, or fail, the unfinished jobs (one, or all) that the job queue no longer runs.

    A job is lost when its queue entry ended (RQ failed or finished it, yet the job never recorded
    its end: the run died), or when the entry is gone (Redis restarted without persistence) and
    the job is still queued or showed no sign of life for ``lost_after`` (a run that was going on
    when Redis lost the entry records each document). A lost job is queued again with its undone
    documents; lost a second time, it fails: its pending documents become ``failed``, the sealed
    ones stay sealed. In-process queues (not durable) are left alone: they answer only for the
    jobs of their own process. Returns the ids of the jobs queued again or failed.
    """
    if not queue.durable:
        return []
    query = select(jobs_table).where(jobs_table.c.status.in_(UNFINISHED))
    if job_id is not None:
        query = query.where(jobs_table.c.job_id == job_id)
    with registry.engine.connect() as conn:
        jobs = conn.execute(query).all()
    handled = []
    for job in jobs:
        try:
            if not _lost(queue, job, utcnow() - lost_after):
                continue
            if job.attempts < MAX_ATTEMPTS:
                done = _queue_again(registry, queue, job)
            else:
                done = _fail_lost(registry, job)
        except StoreUnavailable:  # what the queue holds cannot be told now: next time
            return handled
        if done:
            handled.append(job.job_id)
    return handled


def _lost(queue, job, cutoff: datetime) -> bool:
    state = queue.status(job.queue_id).state if job.queue_id else "unknown"
    if state in ("queued", "started"):
        return False
    if state in ("finished", "failed"):
        return True
    if job.queue_id and job.status == "queued":
        return True  # never started, and the queue no longer has it
    return (job.heartbeat_at or job.created_at) < cutoff


def _claim(conn, job, **values) -> bool:
    """Set ``values`` if ``job`` is still as it was read (unfinished, same attempt): whether this
    reconciler is the one to act on it."""
    return conn.execute(update(jobs_table).where(
        jobs_table.c.job_id == job.job_id, jobs_table.c.status.in_(UNFINISHED),
        jobs_table.c.attempts == job.attempts).values(**values)).rowcount == 1


def _queue_again(registry: SealRegistry, queue, job) -> bool:
    with registry.engine.begin() as conn:  # a failed enqueue rolls the claim back
        if not _claim(conn, job, status="queued", attempts=job.attempts + 1, heartbeat_at=utcnow()):
            return False
        queue_id = queue.enqueue(JOB_FUNCTION, job.job_id)
        conn.execute(update(jobs_table).where(jobs_table.c.job_id == job.job_id).values(queue_id=queue_id))
    log.warning("seal job %s was lost by the job queue; queued again (attempt %d of %d)", job.job_id,
                job.attempts + 1, MAX_ATTEMPTS)
    return True


def _fail_lost(registry: SealRegistry, job) -> bool:
    with registry.engine.begin() as conn:
        if not _claim(conn, job, status="failed", finished_at=utcnow()):
            return False
        unsealed = conn.execute(update(job_documents_table).where(
            job_documents_table.c.job_id == job.job_id, job_documents_table.c.status == "pending").values(
            status="failed", error=LOST, input=None)).rowcount
        conn.execute(update(jobs_table).where(jobs_table.c.job_id == job.job_id).values(
            done=jobs_table.c.done + unsealed, failed=jobs_table.c.failed + unsealed))
    log.warning("seal job %s was lost by the job queue again; failed with %d documents unsealed", job.job_id,
                unsealed)
    return True
