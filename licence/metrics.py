"""The licence room's metrics (issue 16): decorators on the points where things happen, counting
through keys/observe.py as seal/ does (licence/ never imports yitong/).

- issuances (API, batch import, changes) by type code, format and outcome: ``issued``,
  ``replayed`` (an idempotent retry or a batch row already done answered with the earlier
  licence), ``refused`` (the request was wrong: 4xx), ``failed`` (ours: 5xx or unexpected);
- status look-ups by answer (valid, revoked, expired, superseded, not-found, bad-identifier);
- the licence file sealed at a fresh issuance, as a document sealed
  (``yitong_documents_sealed_total{format,level,outcome="sealed"}``, level from the renderer);
- showings (亮证): codes made, and scans by outcome (ok, forged, expired, unknown).

Labels only ever hold catalogue codes and fixed words: a type code the catalogue does not know
(the client's free choice) is counted as ``other``.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from keys import observe
from keys.clock import utcnow

_NOT_A_TYPE = frozenset({"bad-type", "type-not-found"})


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def counted_issuance(issue):
    """For ``LicenceLibrary.issue(self, request, **kwargs)``."""

    @functools.wraps(issue)
    def counted(self, request, *args, **kwargs):
        started = utcnow()
        fmt = request.format if request.format in self.renderers else "other"
        try:
            licence = issue(self, request, *args, **kwargs)
        except Exception as exc:
            kind = getattr(exc, "kind", None)
            type_code = "other" if kind in _NOT_A_TYPE or not isinstance(request.type_code, str) else \
                request.type_code
            status = getattr(exc, "status", None)
            refused = isinstance(exc, ValueError) if status is None else status < 500  # DataInvalid: ValueError
            outcome = "refused" if refused else "failed"
            _safely(observe.licence_issued, type_code, fmt, outcome)
            raise
        fresh = _aware(licence.issued_at) >= started.replace(microsecond=0) if licence.issued_at else True
        _safely(observe.licence_issued, licence.type_code, licence.format, "issued" if fresh else "replayed")
        if fresh:  # the licence file was sealed now: a document sealed, at the level its renderer used
            renderer = self.renderers.get(licence.format)
            _safely(observe.sealed, licence.format, getattr(renderer, "level", "other"), "sealed")
        return licence

    return counted


def counted_status(status):
    """For ``LicenceLibrary.status(self, licence_id)``: the answer, or why there is none."""

    @functools.wraps(status)
    def counted(self, licence_id):
        try:
            answer = status(self, licence_id)
        except Exception as exc:
            _safely(observe.licence_status, {"licence-not-found": "not-found", "bad-identifier": "bad-identifier"}
                    .get(getattr(exc, "kind", ""), "error"))
            raise
        _safely(observe.licence_status, answer["status"])
        return answer

    return counted


def counted_showing(event: str):
    """For ``Showings.show`` (``made``) and ``Showings.open`` (``scanned``)."""

    def decorate(method):
        @functools.wraps(method)
        def counted(*args, **kwargs):
            try:
                result = method(*args, **kwargs)
            except Exception as exc:
                _safely(observe.licence_showing, event, getattr(exc, "kind", None) or "error")
                raise
            _safely(observe.licence_showing, event, "ok")
            return result

        return counted

    return decorate


def _safely(count, *labels) -> None:
    try:
        count(*labels)
    except Exception:  # a metric must never cost an issuance or a look-up
        import logging

        logging.getLogger("yitong.licence").exception("could not count a licence event")
