"""The public seal query (印章查询): anyone asks what a seal is, by its esID — no token.

- ``GET /seal/api/v1/public/seals/{esid}`` — JSON: the esID, the holder's kind and name (an
  organisation's name is public; a person's is masked 王*明 and the seal's own name, which is the
  person's name, is left out), the seal type, its status (``active``, ``suspended``, ``revoked``,
  ``expired``) and validity, and ``image_url``. No holder ID number, USCC of a person, certificate
  or key material.
- ``GET /seal/api/v1/public/seals/{esid}/image.png`` — a low-resolution picture (at most
  :data:`PREVIEW_PX` pixels a side) with a watermark drawn across it (Pillow): enough to recognise
  a seal, useless to forge one. The full-resolution picture stays behind ``seal:read``.
- ``GET /seal/query?esid=`` — the same as a page (zh/en, the site frame).

A seal that is only applied for or approved (not yet made) is not public: 404, as for an unknown
esID (problem+json for the API, an HTML page for the page). All three are rate-limited per client
address (:data:`RATE_LIMIT` a minute, the runtime's limiter: 429 with ``Retry-After``), since
esIDs are sequential and easy to enumerate.
"""

from __future__ import annotations

import io

from flask import Blueprint, Response, current_app, jsonify, render_template, request, url_for
from PIL import Image, ImageDraw

from keys.idnumbers import mask_name
from seal import image as images
from seal.records import SealError, SealRecord, SealStatus

RATE_LIMIT = 30  # public look-ups per client address per minute
PREVIEW_PX = 96
PUBLIC_STATUSES = (SealStatus.ACTIVE, SealStatus.SUSPENDED, SealStatus.REVOKED, SealStatus.EXPIRED)
STATUS_LABELS = {"active": ("有效", "Active"), "suspended": ("已挂失/暂停", "Suspended"),
                 "revoked": ("已注销", "Revoked"), "expired": ("已过期", "Expired")}

TYPE_LABELS_EN = {1: "Legal name seal", 2: "Finance seal", 3: "Invoice seal", 4: "Contract seal",
                  5: "Legal representative's seal", 6: "Official seal", 7: "Internal department seal",
                  8: "Branch seal", 99: "Other"}

bp = Blueprint("seal_public", __name__, url_prefix="/seal", template_folder="templates")


class _Refused(Exception):
    def __init__(self, status: int, title: str, detail: str, kind: str, headers: dict | None = None) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.kind, self.headers = status, title, detail, kind, headers or {}


def _state() -> dict:
    return current_app.extensions["yitong.seal"]


def _limit() -> None:
    verdict = _state()["public_limiter"]().hit(request.remote_addr or "-")
    if not verdict.allowed:
        raise _Refused(429, "Too Many Requests", "too many seal look-ups from this address; try again later",
                       "rate-limited", {"Retry-After": str(verdict.retry_after_seconds)})


def _public_record(esid: str) -> SealRecord:
    _limit()
    try:
        record = _state()["registry"]().get(esid)
    except SealError as exc:
        raise _Refused(exc.status, "Not Found" if exc.status == 404 else "Bad Request", str(exc), exc.kind) from None
    if record.status not in PUBLIC_STATUSES:
        raise _Refused(404, "Not Found", f"no seal {record.esid}", "seal-not-found")
    return record


def public_view(record: SealRecord) -> dict:
    """What anyone may know of a seal."""
    person = record.holder_kind == "person"
    view = {
        "esid": record.esid,
        "holder": {"kind": "person" if person else "organisation",
                   "name": mask_name(record.holder_name) if person else record.holder_name},
        "type": record.type,
        "type_label": images.SEAL_TYPES.get(record.type, images.SEAL_TYPES[99])[0],
        "type_label_en": TYPE_LABELS_EN.get(record.type, TYPE_LABELS_EN[99]),
        "status": record.status,
        "valid_from": record.valid_from.isoformat() if record.valid_from else None,
        "valid_to": record.valid_to.isoformat() if record.valid_to else None,
        "image_url": url_for("seal_public.public_image", esid=record.esid),
    }
    if not person:
        view["name"] = record.name
    return view


def preview(png: bytes) -> bytes:
    """The seal's picture made small (at most PREVIEW_PX a side) and crossed by a watermark."""
    with Image.open(io.BytesIO(png)) as source:
        picture = source.convert("RGBA")
    picture.thumbnail((PREVIEW_PX, PREVIEW_PX), Image.Resampling.LANCZOS)
    canvas = Image.new("RGBA", picture.size, (255, 255, 255, 255))
    canvas.alpha_composite(picture)
    mark = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(mark)
    width, height = canvas.size
    for offset in range(-height, width, 12):  # diagonal hatching over the whole picture
        draw.line([(offset, height), (offset + height, 0)], fill=(90, 90, 90, 110), width=2)
    draw.rectangle([0, height // 2 - 7, width, height // 2 + 7], fill=(255, 255, 255, 200))
    draw.text((width // 2, height // 2), "QUERY ONLY", fill=(60, 60, 60, 255), anchor="mm")
    canvas.alpha_composite(mark)
    out = io.BytesIO()
    canvas.convert("RGB").save(out, "PNG", optimize=True)
    return out.getvalue()


def _problem(exc: _Refused) -> Response:
    response = jsonify({"type": f"urn:yitong:problem:seal:{exc.kind}", "title": exc.title, "status": exc.status,
                        "detail": exc.detail})
    response.status_code = exc.status
    response.headers["Content-Type"] = "application/problem+json"
    response.headers.update(exc.headers)
    return response


@bp.get("/api/v1/public/seals/<esid>")
def public_seal(esid: str):
    try:
        record = _public_record(esid)
    except _Refused as exc:
        return _problem(exc)
    response = jsonify(public_view(record))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/api/v1/public/seals/<esid>/image.png")
def public_image(esid: str):
    try:
        record = _public_record(esid)
        png = _state()["registry"]().blob(record.esid, "image_png")
    except _Refused as exc:
        return _problem(exc)
    except SealError as exc:
        return _problem(_Refused(404, "Not Found", str(exc), "no-picture"))
    return Response(preview(png), mimetype="image/png", headers={"Cache-Control": "public, max-age=300"})


@bp.get("/query")
def query_page():
    esid = request.args.get("esid", "").strip()
    seal, error, status, headers = None, None, 200, {}
    if esid:
        try:
            seal = public_view(_public_record(esid))
        except _Refused as exc:
            error, status, headers = exc, exc.status, exc.headers
    response = current_app.make_response((render_template("seal/query.html", esid=esid[:64], seal=seal, error=error,
                                                           labels=STATUS_LABELS), status, headers))
    response.headers["Cache-Control"] = "no-store"
    return response
