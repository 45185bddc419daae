"""/pki/: the HTTP face of keys/pki — trust bundle, CA certificates, CRLs, OCSP, time-stamping.

Only maps HTTP onto keys/ (bytes in, bytes out). Protocol endpoints answer bad input in their
own protocol (OCSP malformedRequest, TSA rejection), never with a 500.
"""

from __future__ import annotations

import logging
import threading
import time

from flask import Blueprint, Flask, Response, abort, current_app, request

from keys.pki.authority import Pki
from keys.pki.profiles import PkiError

log = logging.getLogger("yitong.pki")
MAX_REQUEST_BYTES = 64 * 1024  # OCSP requests and TSA queries are a few hundred bytes

bp = Blueprint("pki", __name__, url_prefix="/pki")


def _pki() -> Pki:
    return current_app.extensions["yitong.pki"]()


@bp.get("/trust.pem")
def trust_bundle():
    return Response(_pki().trust_bundle(), mimetype="application/x-pem-file")


@bp.get("/intermediates.pem")
def intermediates_bundle():
    return Response(_pki().intermediates_bundle(), mimetype="application/x-pem-file")


@bp.get("/ca/<name>.crt")
def ca_certificate(name: str):
    try:
        der = _pki().ca_certificate(name).dump()
    except PkiError:
        abort(404, description=f"no CA named {name}")
    return Response(der, mimetype="application/pkix-cert")


@bp.get("/crl/<name>.crl")
def crl(name: str):
    if name not in _pki().ca_names():
        abort(404, description=f"no CA named {name}")
    return Response(_pki().crl(name), mimetype="application/pkix-crl")


def _ocsp_response(body: bytes) -> Response:
    responder = current_app.extensions["yitong.ocsp"]()
    return Response(responder.respond(body), mimetype="application/ocsp-response",
                    headers={"Cache-Control": "no-store"})


@bp.post("/ocsp")
def ocsp_post():
    too_big = (request.content_length or 0) > MAX_REQUEST_BYTES
    return _ocsp_response(b"" if too_big else request.get_data(cache=False))  # "" -> malformedRequest


@bp.get("/ocsp/<path:encoded>")
def ocsp_get(encoded: str):
    """RFC 6960 Appendix A.1: GET {url}/{url-encoding of base-64 encoding of the DER request}."""
    from keys.pki.ocsp import request_from_get_path

    try:
        body = request_from_get_path(encoded)
    except ValueError:
        body = b""  # answered as malformedRequest by the responder
    return _ocsp_response(body)


@bp.post("/tsa")
def tsa():
    too_big = (request.content_length or 0) > MAX_REQUEST_BYTES
    body = b"" if too_big else request.get_data(cache=False)  # "" -> rejection, badDataFormat
    authority = current_app.extensions["yitong.tsa"]()
    return Response(authority.respond(body), mimetype="application/timestamp-reply")


class _Cached:
    """Builds a value at most once per ``seconds`` (keys and certificates, not statuses)."""

    def __init__(self, build, seconds: float = 300) -> None:
        self._build, self._seconds = build, seconds
        self._value, self._at = None, float("-inf")
        self._lock = threading.Lock()

    def __call__(self):
        with self._lock:
            if time.monotonic() - self._at > self._seconds:
                self._value, self._at = self._build(), time.monotonic()
            return self._value


def register(app: Flask, pki_factory, tsa_algorithm: str) -> None:
    """Mount /pki/ with ``pki_factory() -> Pki``.

    The OCSP responder and the TSA hold keys and certificates for five minutes; certificate
    statuses are read from the database on every request, so a revocation shows at once.
    """
    app.extensions["yitong.pki"] = pki_factory
    app.extensions["yitong.ocsp"] = _Cached(lambda: pki_factory().ocsp_responder())
    app.extensions["yitong.tsa"] = _Cached(lambda: pki_factory().time_stamp_authority(tsa_algorithm))
    app.register_blueprint(bp)
