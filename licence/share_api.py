"""The sharing API under /licences/api/v1/share/ (licence/sharing.py says who may read what).

- ``GET  .../share/licences[?type=CODE]``               list the holder's licences (GB/T 36906: 证照目录查询)
- ``GET  .../share/licences/{id}``                      the licence's data items (证照数据获取)
- ``GET  .../share/licences/{id}/file``                 the sealed OFD/PDF file (证照文件获取)
- ``GET  .../share/licences/{id}/status``               its current status (证照状态核验)

With the holder's consent: ``Authorization: Bearer <token of the code flow>`` (scopes
``licence:read:<TYPECODE>``, audience ``$YITONG_ISSUER/licences``); ``purpose`` is optional.
Under a legal sharing grant: the client's own token (scope ``licence:share``) and, on every
request, ``holder_id`` (resident ID number or USCC) and ``purpose``, as query parameters (the
access log keeps their names only). Tokens are checked by introspection, so a withdrawn consent or
a revoked client stops at once. Each client may send ``YITONG_LICENCE_SHARE_RATE_LIMIT`` requests a
minute (600 by default; 429 with ``Retry-After`` above it), so no department crawls the library.
Every refusal is RFC 7807 problem+json and writes nothing.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, jsonify, request

from licence.api import _caller, _library, _state, problem
from licence.library import LicenceError
from licence.sharing import SHARE_SCOPE, Access, ShareGrants, Sharing, by_consent, by_grant

bp = Blueprint("licence_share", __name__, url_prefix="/licences/api/v1/share")
ANY_CONSENT = "licence:read:*"


def _refused(exc: LicenceError) -> Response:
    titles = {403: "Forbidden", 404: "Not found", 409: "Conflict"}
    return problem(exc.status, titles.get(exc.status, "Bad request"), str(exc), exc.kind)


def _access() -> Access:
    """Who asks for which holder, and on what basis; a problem response (abort) otherwise."""
    caller = _caller((ANY_CONSENT, SHARE_SCOPE), introspect=True, fresh=True)  # no cached answer: stops at once
    verdict = _state()["share_limiter"]().hit(caller.client_id)
    if not verdict.allowed:  # refused before anything is read or recorded
        abort(problem(429, "Too many requests", f"client {caller.client_id} sent too many sharing requests this "
                                                "minute; try later", "rate-limited",
                      {"Retry-After": str(verdict.retry_after_seconds)}))
    args = request.args
    try:
        if caller.is_person:
            if "holder_id" in args:
                raise LicenceError("a consent token names its holder itself; leave out holder_id",
                                   kind="holder-not-allowed")
            holder = _holder_of_token(caller)
            return by_consent(caller.client_id, holder, caller.scopes, args.get("purpose"))
        if SHARE_SCOPE not in caller.scopes:
            raise LicenceError("a client's own token reads licences only under a legal sharing grant "
                               f"(scope {SHARE_SCOPE})", status=403, kind="grant-required")
        return by_grant(ShareGrants(_library().engine), caller.client_id, args.get("holder_id"), args.get("purpose"))
    except LicenceError as exc:
        abort(_refused(exc))


def _holder_of_token(caller) -> tuple[str, str]:
    """The holder a consent token speaks for: the organisation the person acts for (``org``), or the
    person, by the ID number the IdP verified (the composition root's ``holder_of``)."""
    if caller.acting_for:
        return "org", caller.acting_for
    number = _state()["holder_of"](caller.sub)
    if not number:
        raise LicenceError("the token's holder has no verified real name, so holds no licences here", status=403,
                           kind="holder-unknown")
    return "person", number


def _sharing() -> Sharing:
    return Sharing(_library())


def _answer(body: dict | list) -> Response:
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/licences")
def list_licences():
    access = _access()
    try:
        found = _sharing().list(access, request.args.get("type") or None)
    except LicenceError as exc:
        return _refused(exc)
    return _answer({"holder": {"kind": access.holder_kind}, "basis": access.basis, "licences": found})


@bp.get("/licences/<licence_id>")
def data(licence_id: str):
    access = _access()
    try:
        return _answer(_sharing().data(access, licence_id))
    except LicenceError as exc:
        return _refused(exc)


@bp.get("/licences/<licence_id>/file")
def file(licence_id: str):
    access = _access()
    try:
        found, data = _sharing().file(access, licence_id)
    except LicenceError as exc:
        return _refused(exc)
    return Response(data, mimetype="application/pdf" if found.format == "pdf" else "application/ofd", headers={
        "Content-Disposition": f'attachment; filename="{found.number}.{found.format}"',
        "X-Licence-Status": found.status, "Cache-Control": "no-store"})


@bp.get("/licences/<licence_id>/status")
def status(licence_id: str):
    access = _access()
    try:
        return _answer(_sharing().status(access, licence_id))
    except LicenceError as exc:
        return _refused(exc)
