"""/verify/: the public verification page, ``POST /verify/api/v1/documents`` (PDF or OFD) and
``POST /verify/api/v1/pdf`` (PDF only, as before) (a Flask blueprint).

Documents are verified in memory and never stored or logged. Uploads are capped
(``YITONG_VERIFY_MAX_BYTES``) and rate-limited per client IP (``YITONG_VERIFY_RATE_LIMIT`` per
minute); each is verified within the policy's time and object limits, and at most
``YITONG_VERIFY_CONCURRENCY`` at once per process (more get 503 with Retry-After), so that
anonymous uploads cannot starve sign-in and tokens served by the same process. The server
never fetches URLs taken from a document: verification is offline, with the server's own trust
bundle and its own current CRLs handed over in-process (the equivalent of
our /pki/ endpoints, without a network round trip). A licence's current status is asked of this
server's own licence library in-process (``licence_status``); a licence issued elsewhere is
reported without a status, whatever status service the file names.

The library (verify/) stays importable without Flask; only this module needs it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from flask import Blueprint, Flask, current_app, jsonify, render_template, request
from werkzeug.exceptions import RequestEntityTooLarge

from keys import observe
from verify import report as r
from verify.errors import UploadRefused
from verify.files import verify_bytes
from verify.licence import StatusLookup
from verify.ofd import is_other_zip, looks_like_ofd
from verify.payload import MAX_TEXT, CertificateLookup, check_payload
from verify.policy import DEFAULT, Limits
from verify.render import html
from verify.trust import TrustBundle

log = logging.getLogger("yitong.verify")

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_RATE_LIMIT = 30  # uploads per client IP per minute
DEFAULT_CONCURRENCY = 2  # documents verified at once per process
BUSY_RETRY_AFTER = 5  # seconds
CRL_CACHE_SECONDS = 300

bp = Blueprint("verify", __name__, url_prefix="/verify", template_folder="templates")


class VerifyService:
    """What the blueprint needs from its host: trust, our own revocation data, limits, a rate limiter."""

    def __init__(self, trust: Callable[[], bytes], *, crls: Callable[[], list[bytes]] | None = None,
                 certs: Callable[[], list[bytes]] | None = None, limiter=None, max_bytes: int = DEFAULT_MAX_BYTES,
                 concurrency: int = DEFAULT_CONCURRENCY, limits: Limits | None = None,
                 licence_status: StatusLookup | None = None, seal_certificate: CertificateLookup | None = None
                 ) -> None:
        self._trust_source = trust
        self._crls_source = crls
        self._certs_source = certs  # our own intermediate CAs: an OFD seal carries only the signer's certificate
        self.limiter = limiter
        self.licence_status = licence_status  # this server's own licences' status, in-process (never a fetch)
        self.seal_certificate = seal_certificate  # esID → DER certificate of this server's own seals (2D codes)
        self.max_bytes = max_bytes
        self.policy = replace(DEFAULT, limits=limits) if limits is not None else DEFAULT
        self._slots = threading.BoundedSemaphore(concurrency)
        self._lock = threading.Lock()
        self._trust: tuple[bytes, TrustBundle] | None = None
        self._crls: tuple[float, list[bytes]] = (0.0, [])

    def trust(self) -> TrustBundle:
        data = self._trust_source()
        with self._lock:
            if self._trust is None or self._trust[0] != data:
                self._trust = (data, TrustBundle.from_bytes(data, "this server's /pki/trust.pem"))
            return self._trust[1]

    @contextlib.contextmanager
    def slot(self):
        """One of the ``concurrency`` verification slots, or a 503 refusal when all are taken."""
        if not self._slots.acquire(blocking=False):
            raise UploadRefused(503, "Service Unavailable", "the server is verifying as many documents as it can at "
                             "once; try again shortly", {"Retry-After": str(BUSY_RETRY_AFTER)})
        try:
            yield
        finally:
            self._slots.release()

    def certs(self) -> list[bytes]:
        if self._certs_source is None:
            return []
        try:
            return list(self._certs_source())
        except Exception as exc:  # no intermediates is less evidence, not an error of the upload
            log.warning("own CA certificates unavailable for /verify: %s", type(exc).__name__)
            return []

    def crls(self) -> list[bytes]:
        if self._crls_source is None:
            return []
        with self._lock:
            fetched_at, crls = self._crls
            if time.monotonic() - fetched_at < CRL_CACHE_SECONDS:
                return crls
        try:
            crls = list(self._crls_source())
        except Exception as exc:  # no CRLs is no evidence, not an error of the upload
            log.warning("own CRLs unavailable for /verify: %s", type(exc).__name__)
            crls = []
        with self._lock:
            self._crls = (time.monotonic(), crls)
        return crls


def _service() -> VerifyService:
    return current_app.extensions["yitong.verify"]


def problem(status: int, title: str, detail: str, headers: dict | None = None):
    response = jsonify({"type": "about:blank", "title": title, "status": status, "detail": detail})
    response.status_code = status
    response.headers["Content-Type"] = "application/problem+json"
    response.headers["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _client_ip() -> str:
    return request.remote_addr or "unknown"


def _read_upload(service: VerifyService, *, ofd: bool = True) -> tuple[str, bytes]:
    """(file name, bytes) of the uploaded document: multipart field ``file`` or a raw body.

    The format is decided by the content: a PDF, an OFD (a zip package; not at ``/api/v1/pdf``,
    which keeps its PDF-only contract), or a DER GB/T 38540 seal or seal signature."""
    _limit(service)
    limit = service.max_bytes
    if request.content_length is not None and request.content_length > limit + 64 * 1024:
        raise UploadRefused(413, "Content Too Large", f"documents are limited to {limit} bytes")
    request.max_content_length = limit + 64 * 1024  # also bounds chunked bodies while the form is parsed
    if request.mimetype == "multipart/form-data":
        try:
            upload = request.files.get("file")
        except RequestEntityTooLarge:
            raise UploadRefused(413, "Content Too Large", f"documents are limited to {limit} bytes") from None
        if upload is None or not upload.filename:
            raise UploadRefused(400, "Bad Request", "no file in the form field 'file'")
        data = upload.stream.read(limit + 1)
        name = os.path.basename(upload.filename)[:200] or "document.pdf"
    else:
        data = request.stream.read(limit + 1)
        name = "document.pdf"
    if len(data) > limit:
        raise UploadRefused(413, "Content Too Large", f"documents are limited to {limit} bytes")
    if not data:
        raise UploadRefused(400, "Bad Request", "the request carries no document")
    if ofd and is_other_zip(data):
        raise UploadRefused(415, "Unsupported Media Type", "a zip file without OFD.xml is not an OFD; send a PDF or "
                                                        "an OFD")
    is_ofd = ofd and looks_like_ofd(data)
    if b"%PDF-" not in data[:1024] and data[:1] != b"\x30" and not is_ofd:
        raise UploadRefused(415, "Unsupported Media Type",
                         "send a PDF or an OFD (or a DER GB/T 38540 seal or seal signature)" if ofd
                         else "send a PDF (or a DER GB/T 38540 seal or seal signature); OFDs go to "
                              "/verify/api/v1/documents")
    if is_ofd and name == "document.pdf":
        name = "document.ofd"
    return name, data


def _verify(name: str, data: bytes) -> r.Report:
    service = _service()
    with service.slot():
        # online=False always: nothing named in the document is fetched (SSRF); our own CRLs come in-process.
        report = verify_bytes(data, service.trust(), name=name, policy=service.policy, online=False,
                              crls=service.crls(), certs=service.certs(), licence_status=service.licence_status)
    observe.verified(report.format, report.indication[0].value)
    if report.licence is not None:
        observe.licence_verified(report.indication[0].value)
    return report


def _api(ofd: bool):
    try:
        name, data = _read_upload(_service(), ofd=ofd)
        report = _verify(name, data)
    except UploadRefused as exc:
        return problem(exc.status, exc.title, exc.detail, exc.headers)
    response = jsonify(r.document([report]))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/api/v1/pdf")
def api_pdf():
    return _api(ofd=False)


@bp.post("/api/v1/documents")
def api_documents():
    """A PDF or an OFD (or a DER seal / seal signature), told apart by the content."""
    return _api(ofd=True)


def _limit(service: VerifyService) -> None:
    if service.limiter is not None:
        verdict = service.limiter.hit(_client_ip())
        if not verdict.allowed:
            raise UploadRefused(429, "Too Many Requests", "too many verifications from this address; try again later",
                                {"Retry-After": str(verdict.retry_after_seconds)})


def _check_code(text: str) -> dict:
    """A scanned licence 2D code, checked offline against our trust anchors (verify/payload.py); the live
    status from this server's own licence library, in-process."""
    service = _service()
    _limit(service)
    if not text.strip():
        raise UploadRefused(400, "Bad Request", "paste the text the licence's 2D code holds")
    if len(text) > MAX_TEXT:
        raise UploadRefused(413, "Content Too Large", f"a licence 2D code holds at most {MAX_TEXT} characters")
    answer = check_payload(text, service.trust(), certificate=service.seal_certificate or (lambda esid: None),
                           status_lookup=service.licence_status, crls=service.crls(), certs=service.certs())
    observe.verified("licence-code", answer["verdict"])
    return answer


@bp.post("/api/v1/payload")
def api_payload():
    """``{"payload": "<what the 2D code holds: the URL or the bare payload>"}`` → the verdict (JSON)."""
    body = request.get_json(silent=True) if request.content_length is None or request.content_length <= 16384 \
        else None
    text = body.get("payload") if isinstance(body, dict) else None
    if not isinstance(text, str):
        return problem(400, "Bad Request", 'send JSON {"payload": "<the text of the licence\'s 2D code>"} (at most '
                                           '16 KiB)')
    try:
        answer = _check_code(text)
    except UploadRefused as exc:
        return problem(exc.status, exc.title, exc.detail, exc.headers)
    response = jsonify({"schema": "yitong-licence-code/1", **answer})
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/", methods=["GET", "POST"])
def page():
    error = None
    fragment = None
    code = None
    status, headers = 200, {}
    if request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
        try:  # the pasted text of a licence's 2D code
            code = _check_code(request.form.get("payload", "")[:MAX_TEXT + 1])
        except UploadRefused as exc:
            error, status, headers = exc.detail, exc.status, exc.headers
    elif request.method == "POST":
        try:
            name, data = _read_upload(_service())
            report = _verify(name, data)
            fragment = html([report], {report.file: data}, standalone=False,
                            time_zone=current_app.config.get("YITONG_TIME_ZONE"))
        except UploadRefused as exc:
            error, status, headers = exc.detail, exc.status, exc.headers
    response = current_app.make_response((render_template("verify/page.html", error=error, fragment=fragment,
                                                          code=code, max_mb=_service().max_bytes // (1024 * 1024)),
                                           status, headers))
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
                                                   "script-src 'unsafe-inline'; form-action 'self'; "
                                                   "frame-ancestors 'none'")
    return response


def register(app: Flask, service: VerifyService) -> None:
    # pyhanko logs a warning with a traceback for every rejected revision or path; for uploads from
    # anyone that is log flooding, and the report already says it. Only where nobody chose a level.
    for name in ("pyhanko", "pyhanko_certvalidator"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.ERROR)
    app.extensions["yitong.verify"] = service
    app.register_blueprint(bp)
