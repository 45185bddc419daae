"""A scanned licence 2D code (what the QR on a licence face holds) checked offline: ``check_payload``.

The code is ``<issuer>/licences/v?c=<payload>`` or the bare payload ``base64url(JSON).base64url(sig)``
(keys/licencecode.py reads it; licence/payload.py writes it). The JSON names the licence (``i``), its
type (``t``), the holder masked (``h``), the validity (``f``/``u``), the SM3 digest of the licence's
canonical data record it binds to (``d``) and the esID of the seal whose key signed (``e``).

Checks, in order (each a step of the answer; the first failure decides the verdict):

- ``payload``: it parses (else *invalid*: not a licence code, or damaged);
- ``seal_certificate``: the issuing seal's certificate is known to the caller (``certificate(esid)``:
  the server's own seal registry in-process, or ``yitong verify --payload --seal-cert FILE``);
  unknown → *indeterminate*;
- ``signature``: the SM2 (or P-256) signature verifies with that certificate's key (else *forged*);
- ``certificate_chain`` / ``revocation``: the certificate chains to the published trust anchors, with
  the revocation data the caller vouches for (verify/certs.py, as for sealed files);
- ``licence_identifier``: the GB/T 36904 identifier's check character (keys/licenceids.py);
- ``validity``: today is inside ``f``..``u`` (else *expired*);
- ``licence_status``: only with a status lookup (online, or the server's own library): revoked,
  superseded or expired at the issuer fail the code even though its signature is intact.

Never raises on bad input: every refusal is a verdict with a reason.
"""

from __future__ import annotations

import contextlib
import urllib.parse
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from asn1crypto import x509

from keys.asymmetric import load_public_key
from keys.licencecode import read_payload, verify_payload
from keys.licenceids import IdentifierError, parse_identifier
from keys.verdict import SubIndication
from verify import certs as c
from verify import report as r
from verify.licence import StatusLookup, StatusUnavailable, _status_step
from verify.pdf.dss import supplied_revinfo

MAX_TEXT = 4096
CertificateLookup = Callable[[str], bytes | None]
VERDICTS = ("valid", "invalid", "forged", "expired", "revoked", "indeterminate")


def compact_of(text: str) -> str:
    """The payload inside what a scanner read: a verification URL (its ``c`` parameter) or the bare payload."""
    text = (text or "").strip()
    if "?" in text or text.startswith(("http://", "https://")):
        values = urllib.parse.parse_qs(urllib.parse.urlsplit(text).query).get("c")
        if not values:
            raise ValueError("the URL carries no licence code (no c= parameter)")
        return values[0].strip()
    return text


def _step(name: str, passed: bool, detail: str) -> dict:
    return {"name": name, "passed": passed, "detail": detail}


def _from_verdict(step: r.Step, name: str) -> dict:
    return _step(name, step.passed, step.reason)


def check_payload(text: str, trust, *, certificate: CertificateLookup, status_lookup: StatusLookup | None = None,
                  crls=(), certs=(), at: datetime | None = None) -> dict[str, Any]:
    """The verdict on a scanned 2D code: ``{verdict, reason, licence, steps, status}`` (JSON-ready)."""
    moment = at or datetime.now(UTC)
    steps: list[dict] = []
    answer: dict[str, Any] = {"verdict": "invalid", "reason": "", "licence": None, "steps": steps, "status": None}

    def stop(verdict: str, reason: str) -> dict[str, Any]:
        answer["verdict"], answer["reason"] = verdict, reason
        return answer

    try:
        if not isinstance(text, str) or len(text) > MAX_TEXT:
            raise ValueError(f"the code is longer than {MAX_TEXT} characters")
        compact = compact_of(text)
        claims, _, _ = read_payload(compact)
        licence_id, esid = claims.get("i"), claims.get("e")
        if not isinstance(licence_id, str) or not isinstance(esid, str) or not licence_id or not esid:
            raise ValueError("the code names no licence or no seal")
    except ValueError as exc:
        steps.append(_step("payload", False, str(exc)))
        return stop("invalid", f"not a licence 2D code: {exc}")
    steps.append(_step("payload", True, "a licence 2D-code payload"))
    validity = {"from": claims.get("f"), "to": claims.get("u")}
    answer["licence"] = {"licence_id": licence_id, "type": claims.get("t"), "holder": claims.get("h"),
                         "validity": validity, "data_digest": claims.get("d"), "esid": esid,
                         "check_character": None}

    der = None
    with contextlib.suppress(Exception):  # a lookup that fails is an unknown certificate
        der = certificate(esid)
    try:
        cert = x509.Certificate.load(der) if der else None
        key = load_public_key(cert.public_key.dump()) if cert is not None else None
    except Exception:
        cert = key = None
    if key is None:
        steps.append(_step("seal_certificate", False, f"the certificate of seal {esid} is not known here"))
        return stop("indeterminate", f"the issuing seal {esid} is unknown here: its signature cannot be checked")
    steps.append(_step("seal_certificate", True, f"the certificate of seal {esid}: "
                                                 f"{cert.subject.human_friendly}"))
    try:
        claims = verify_payload(compact, key)
    except ValueError as exc:
        steps.append(_step("signature", False, str(exc)))
        answer["licence"] = None  # forged: nothing it says is to be shown as the licence's
        return stop("forged", "the code's signature does not verify with the issuing seal's key: forged or altered")
    steps.append(_step("signature", True, "signed by the issuing seal's key (SM2 with SM3)" if
                       cert.public_key.algorithm == "ec" else "signed by the issuing seal's key"))

    revinfo = supplied_revinfo(crls, (), certs)
    outcome = c.run(c.validate_chain(cert, trust, other_certs=list(revinfo.certs), revinfo=revinfo, moment=moment,
                                     proven=False, online=False, what="signer"))
    steps.append(_from_verdict(outcome.chain, "certificate_chain"))
    steps.append(_from_verdict(outcome.revocation, "revocation"))
    if not outcome.chain.passed:
        return stop("indeterminate" if outcome.chain.sub_indication == SubIndication.NO_CERTIFICATE_CHAIN_FOUND
                    else "invalid", f"the seal's certificate: {outcome.chain.reason}")
    if not outcome.revocation.passed and outcome.revocation.sub_indication == SubIndication.REVOKED:
        return stop("revoked", f"the seal's certificate is revoked: {outcome.revocation.reason}")

    try:
        parse_identifier(licence_id)
        answer["licence"]["check_character"] = "valid"
        steps.append(_step("licence_identifier", True, "a GB/T 36904 identifier with a correct check character"))
    except IdentifierError as exc:
        answer["licence"]["check_character"] = "invalid"
        steps.append(_step("licence_identifier", False, str(exc)))
        return stop("invalid", f"the licence identifier is wrong: {exc}")

    today = moment.date()
    try:
        starts = date.fromisoformat(validity["from"]) if validity["from"] else None
        ends = date.fromisoformat(validity["to"]) if validity["to"] else None
    except (TypeError, ValueError):
        steps.append(_step("validity", False, "the validity dates cannot be read"))
        return stop("invalid", "the code's validity dates cannot be read")
    if starts and today < starts:
        steps.append(_step("validity", False, f"valid only from {starts.isoformat()}"))
        return stop("invalid", f"the licence is valid only from {starts.isoformat()}")
    if ends and today > ends:
        steps.append(_step("validity", False, f"expired on {ends.isoformat()}"))
        return stop("expired", f"the licence expired on {ends.isoformat()}")
    steps.append(_step("validity", True, f"{validity['from']} – {validity['to'] or 'no end date'}"))

    verdict, reason = "valid", "the code is authentic: signed by the issuing seal, whose certificate chains to the " \
                               "trust anchors"
    if not outcome.revocation.passed:
        verdict, reason = "indeterminate", f"the seal's revocation status: {outcome.revocation.reason}"
    if status_lookup is None:
        answer["status_note"] = "the licence's current status was not checked (offline)"
        return stop(verdict, reason)
    try:
        status = status_lookup(licence_id, None)
        source = getattr(status_lookup, "source", None) or "the caller's status lookup"
    except StatusUnavailable as exc:
        status, source = "unavailable", str(exc)
    if status is None:
        answer["status_note"] = "the licence was not issued here: its current status is the issuer's to tell"
        return stop(verdict, reason)
    live = _status_step(status, source)
    steps.append(_from_verdict(live, "licence_status"))
    answer["status"] = status
    if not live.passed:
        kind = {"revoked": "revoked", "superseded": "revoked", "expired": "expired"}.get(status, "indeterminate")
        return stop(kind, live.reason)
    return stop(verdict, reason)


__all__ = ["VERDICTS", "CertificateLookup", "check_payload", "compact_of"]
