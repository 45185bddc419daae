"""The reference base library over HTTP: an index page and the signed JSON API of baselib/protocol.py.

Mounted under ``/baselib/`` in the embedded default (yitong/app.py) or served on its own by
``yitong baselib serve`` (:func:`create_app`). Its logs carry the endpoint, the result and the
evidence reference — never a name or an identity number.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import NoReturn

from flask import Blueprint, Flask, abort, current_app, jsonify, make_response, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from baselib import protocol
from baselib.licence import CONFIRMED, PresentationRefused, Presentations
from baselib.records import Records
from keys.runtime import ReplayCache
from keys.storage import utcnow

log = logging.getLogger("yitong.baselib")
bp = Blueprint("baselib", __name__, url_prefix="/baselib", template_folder="templates")
MAX_BODY = 16 * 1024


@dataclass
class BaselibService:
    records: Records
    key: bytes
    replay: ReplayCache
    presentations: Presentations
    skew_seconds: int = protocol.SKEW_SECONDS


def register(app: Flask, *, engine, key: bytes, replay: ReplayCache) -> None:
    if len(key) < 16:
        raise ValueError("the base-library key must be at least 16 bytes")
    app.extensions["yitong.baselib"] = BaselibService(Records(engine), key, replay, Presentations(engine))
    app.register_blueprint(bp)


def create_app(*, engine, key: bytes, replay: ReplayCache) -> Flask:
    """A small app with only the base library (``yitong baselib serve``)."""
    app = Flask(__name__)
    app.json.sort_keys = False
    app.jinja_env.globals["csp_nonce"] = lambda: ""  # no CSP here; mounted in Yitong, yitong/headers.py sets one
    register(app, engine=engine, key=key, replay=replay)

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    @app.errorhandler(HTTPException)
    def http_problem(exc: HTTPException):
        return _problem(exc.code or 500, exc.name, exc.description or "")

    @app.errorhandler(Exception)
    def internal_problem(exc: Exception):
        log.error("baselib: unhandled %s on %s", type(exc).__name__, request.path)
        return _problem(500, "Internal Server Error", "the base library could not answer; the error has been logged")

    return app


def _service() -> BaselibService:
    return current_app.extensions["yitong.baselib"]


def _problem(status: int, title: str, detail: str):
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return jsonify(body), status, {"Content-Type": "application/problem+json"}


def _refuse(status: int, title: str, detail: str) -> NoReturn:
    """Answer the request with a problem+json refusal (Flask's abort with a response)."""
    abort(make_response(_problem(status, title, detail)))


@bp.get("/")
def index():
    return render_template("baselib/index.html", counts=_service().records.counts(), skew=_service().skew_seconds)


# -- authentication -----------------------------------------------------------------------------------
def _authenticated_json(*fields: str) -> dict:
    """The request body after its signature, time and nonce check out; else a 401/400 problem."""
    service = _service()
    if (request.content_length or 0) > MAX_BODY:  # refused before reading it
        _refuse(413, "Payload Too Large", f"at most {MAX_BODY} bytes")
    body = request.stream.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        _refuse(413, "Payload Too Large", f"at most {MAX_BODY} bytes")
    timestamp = request.headers.get(protocol.TIMESTAMP_HEADER, "")
    nonce = request.headers.get(protocol.NONCE_HEADER, "")
    given = request.headers.get(protocol.SIGNATURE_HEADER, "")
    if not (timestamp and nonce and given):
        _refuse(401, "Unauthorized", f"sign the request: {protocol.TIMESTAMP_HEADER}, "
                                     f"{protocol.NONCE_HEADER} and {protocol.SIGNATURE_HEADER} are required")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > service.skew_seconds:
        _refuse(401, "Unauthorized", f"the timestamp is not within {service.skew_seconds} s of our clock")
    if not protocol.NONCE.match(nonce):
        _refuse(401, "Unauthorized", "the nonce must be 16-64 characters of A-Z a-z 0-9 _ -")
    if not protocol.signature_ok(service.key, given, request.method, request.path, timestamp, nonce, body):
        log.warning("baselib: bad signature on %s", request.path)
        _refuse(401, "Unauthorized", "the signature does not verify")
    if not service.replay.first_use(nonce, 2 * service.skew_seconds):
        log.warning("baselib: replayed nonce on %s", request.path)
        _refuse(401, "Unauthorized", "this nonce was already used")
    try:
        data = json.loads(body)
    except ValueError:
        _refuse(400, "Bad Request", "the body must be a JSON object")
    if not isinstance(data, dict):
        _refuse(400, "Bad Request", "the body must be a JSON object")
    for name in fields:
        if not isinstance(data.get(name), str) or not data[name].strip():
            _refuse(400, "Bad Request", f"{name!r} is required (a non-empty string)")
        data[name] = data[name].strip()
    return data


def _answer(library: str, matched: bool, checks: dict, record_status: str | None):
    reference = uuid.uuid4().hex
    result = "match" if matched else "no_match"
    log.info("baselib: %s verify result=%s reference=%s", library, result, reference)
    return jsonify(result=result, evidence={
        "source": "yitong-baselib", "library": library, "reference": reference, "stand_in": True,
        "record_status": record_status, "checks": checks}, checked_at=utcnow().isoformat())


def _same(a: str | None, b: str | None) -> bool:
    return (a or "").strip() == (b or "").strip()


# -- the libraries ----------------------------------------------------------------------------------------
@bp.post("/api/v1/population/verify")
def population_verify():
    data = _authenticated_json("name", "id_number")
    record = _service().records.person(data["id_number"].upper())
    if record is None:
        return _answer("population", False, {"id_number": "not_found"}, None)
    name_ok = _same(record.name, data["name"])
    checks = {"id_number": "match", "name": "match" if name_ok else "mismatch"}
    return _answer("population", name_ok and record.status == "active", checks, record.status)


@bp.post("/api/v1/legal-person/verify")
def legal_person_verify():
    data = _authenticated_json("uscc", "name", "legal_representative")
    record = _service().records.legal_person(data["uscc"].upper())
    if record is None:
        return _answer("legal_person", False, {"uscc": "not_found"}, None)
    checks = {"uscc": "match", "name": "match" if _same(record.name, data["name"]) else "mismatch",
              "legal_representative": "match" if _same(record.legal_representative, data["legal_representative"])
              else "mismatch"}
    rep_id = data.get("legal_representative_id_number")
    if isinstance(rep_id, str) and rep_id.strip():  # compared when the library has the number on record
        on_record = record.legal_representative_id_number
        checks["legal_representative_id_number"] = ("not_on_record" if not on_record else
                                                     "match" if on_record == rep_id.strip().upper() else "mismatch")
    matched = all(v in ("match", "not_on_record") for v in checks.values()) and record.status == "active"
    return _answer("legal_person", matched, checks, record.status)


@bp.post("/api/v1/licence/verify")
def licence_verify():
    """The e-business-licence system: is there a valid business licence for this USCC and name?"""
    data = _authenticated_json("uscc", "name")
    record = _service().records.legal_person(data["uscc"].upper())
    if record is None:
        return _answer("business_licence", False, {"uscc": "not_found"}, None)
    checks = {"uscc": "match", "name": "match" if _same(record.name, data["name"]) else "mismatch"}
    return _answer("business_licence", checks["name"] == "match" and record.status == "active", checks,
                   record.status)


@bp.post("/api/v1/bank/verify")
def bank_verify():
    """A bank's 4-factor check (银行卡四要素): do the card, its holder's name and ID number and the
    phone number reserved with the bank belong together? The card number is never logged or echoed."""
    data = _authenticated_json("name", "id_number", "card_number", "phone")
    card = data["card_number"].replace(" ", "")
    record = _service().records.bank_card(card) if card.isdigit() else None
    if record is None:
        return _answer("bank_4_factor", False, {"card_number": "not_found"}, None)
    checks = {"card_number": "match",
              "id_number": "match" if record.id_number == data["id_number"].upper() else "mismatch",
              "name": "match" if _same(record.name, data["name"]) else "mismatch",
              "phone": "match" if record.phone == data["phone"] else "mismatch"}
    return _answer("bank_4_factor", all(v == "match" for v in checks.values()) and record.status == "active",
                   checks, record.status)


@bp.post("/api/v1/carrier/verify")
def carrier_verify():
    """A mobile carrier's 3-factor check (运营商三要素): is this number a live line registered to this
    name and ID number?"""
    data = _authenticated_json("name", "id_number", "phone")
    record = _service().records.mobile(data["phone"])
    if record is None:
        return _answer("carrier_3_factor", False, {"phone": "not_found"}, None)
    checks = {"phone": "match",
              "id_number": "match" if record.id_number == data["id_number"].upper() else "mismatch",
              "name": "match" if _same(record.name, data["name"]) else "mismatch"}
    return _answer("carrier_3_factor", all(v == "match" for v in checks.values()) and record.status == "active",
                   checks, record.status)


# -- sign-in by e-licence (baselib/licence.py) ------------------------------------------------------------
@bp.post("/api/v1/licence/presentations")
def licence_presentation_start():
    """A relying party starts a presentation; it shows ``scan_url`` (as a QR code) to the holder."""
    data = _authenticated_json("relying_party")
    presentation_id, expires_at = _service().presentations.start(data["relying_party"])
    log.info("baselib: licence presentation started")
    return jsonify(presentation_id=presentation_id, expires_at=expires_at.isoformat(),
                   scan_url=url_for("baselib.licence_present", presentation_id=presentation_id, _external=True))


@bp.post("/api/v1/licence/presentations/result")
def licence_presentation_result():
    """``status`` pending / confirmed / declined / expired / used; a confirmed result (licence and
    holder) is given once."""
    data = _authenticated_json("presentation_id")
    state, row = _service().presentations.read(data["presentation_id"])
    if state is None:
        _refuse(404, "Not Found", "no such presentation")
    answer = {"status": state, "checked_at": utcnow().isoformat()}
    if state == CONFIRMED:
        record = _service().records.legal_person(row.uscc)
        reference = uuid.uuid4().hex
        answer.update(licence={"uscc": row.uscc, "name": record.name},
                      holder={"name": row.holder_name, "id_number": row.holder_id_number},
                      evidence={"source": "yitong-baselib", "library": "business_licence", "reference": reference,
                                "stand_in": True, "presented_at": row.decided_at.isoformat()})
        log.info("baselib: licence presentation read reference=%s", reference)
    return jsonify(answer)


@bp.route("/licence/present/<presentation_id>", methods=["GET", "POST"])
def licence_present(presentation_id: str):
    """The stand-in for the e-licence app on the holder's phone."""
    presentations = _service().presentations
    row = presentations.get(presentation_id[:64])
    if row is None:
        return render_template("baselib/present.html", row=None, error="没有这次出示 · No such presentation"), 404
    error, done = None, None
    if request.method == "POST":
        try:
            if request.form.get("action") == "decline":
                presentations.decline(presentation_id)
                done = "declined"
            else:
                presentations.confirm(presentation_id, request.form.get("uscc", "").strip().upper(),
                                      request.form.get("holder_name", "").strip(),
                                      request.form.get("holder_id_number", "").strip().upper())
                done = "confirmed"
        except PresentationRefused as refused:
            error = str(refused)
    return render_template("baselib/present.html", row=row, error=error, done=done,
                           state=presentations.state(row)), 200 if error is None else 400
