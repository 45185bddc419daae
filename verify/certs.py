"""Certificate-level checks shared by PDF and GB/T 38540 verification.

Path building and path validation are pyhanko-certvalidator's, with trust roots from the bundle
only and :class:`keys.pki.signing.YitongSignatureValidator` for SM2 (certificates, CRLs, OCSP).
This module maps its outcomes onto ETSI sub-indications and describes signers for the report.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import itertools
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import (
    DisallowedAlgorithmError,
    ExpiredError,
    InsufficientRevinfoError,
    NotYetValidError,
    PathBuildingError,
    PathValidationError,
    RevokedError,
    ValidationError,
)

from keys.der import signed_bytes
from keys.pki.signing import YitongSignatureValidator, verify_signature
from keys.verdict import CheckName as N
from keys.verdict import SubIndication as Sub
from verify import report as r

VALIDATOR = YitongSignatureValidator()

# A certificate restricted to these purposes is a service certificate, not a signer's.
_SERVICE_ONLY_EKUS = {"time_stamping", "ocsp_signing"}


@dataclass
class Revinfo:
    """Revocation evidence available for one signature: (parsed object, source) pairs."""

    crls: list[tuple[asn1_crl.CertificateList, str]] = field(default_factory=list)
    ocsps: list[tuple[asn1_ocsp.OCSPResponse, str]] = field(default_factory=list)
    certs: list[x509.Certificate] = field(default_factory=list)

    def extend(self, other: Revinfo) -> None:
        self.crls.extend(other.crls)
        self.ocsps.extend(other.ocsps)
        self.certs.extend(other.certs)

    def evidence(self) -> list[dict]:
        out = []
        for crl, source in self.crls:
            tbs = crl["tbs_cert_list"]
            out.append({"type": "crl", "source": source, "issuer": tbs["issuer"].human_friendly,
                        "this_update": r.iso(tbs["this_update"].native),
                        "next_update": r.iso(tbs["next_update"].native) if tbs["next_update"] else None,
                        "sha256": hashlib.sha256(signed_bytes(crl)).hexdigest()})
        for response, source in self.ocsps:
            item = {"type": "ocsp", "source": source, "sha256": hashlib.sha256(signed_bytes(response)).hexdigest()}
            try:
                data = response["response_bytes"]["response"].parsed["tbs_response_data"]
                item["produced_at"] = r.iso(data["produced_at"].native)
            except (KeyError, TypeError, ValueError, AttributeError):
                item["produced_at"] = None
            out.append(item)
        return out


@dataclass
class ChainOutcome:
    chain: r.Step
    revocation: r.Step
    path: list[x509.Certificate] | None = None
    ignored: list[str] = field(default_factory=list)  # evidence that was not signed by whom it claims


def validation_context(trust, *, other_certs=(), revinfo: Revinfo | None = None, moment: datetime | None = None,
                       online: bool = False) -> ValidationContext:
    revinfo = revinfo or Revinfo()
    return ValidationContext(
        trust_roots=list(trust.certificates),
        other_certs=[*other_certs, *revinfo.certs],
        crls=[c for c, _ in revinfo.crls],
        ocsps=[o for o, _ in revinfo.ocsps],
        moment=moment,
        retroactive_revinfo=True,
        allow_fetching=online,
        revocation_mode="soft-fail",
        signature_validator=VALIDATOR,
        time_tolerance=timedelta(seconds=1),
    )


@asynccontextmanager
async def validation_session(trust, **options) -> AsyncIterator[ValidationContext]:
    """:func:`validation_context` for one validation, closed after it: online, its fetchers' HTTP session
    (pyhanko-certvalidator's ``aclose()``; left open, each would be reported "Unclosed client session"
    whenever the collector reached it, in a server for every online verification)."""
    context = validation_context(trust, **options)
    try:
        yield context
    finally:
        await context.aclose()


def _reason_name(reason) -> str:
    try:
        return reason.native
    except AttributeError:
        return str(reason)


async def validate_chain(certificate: x509.Certificate, trust, *, other_certs=(), revinfo: Revinfo,
                         moment: datetime, proven: bool, online: bool, what: str = "signer") -> ChainOutcome:
    """Chain to the anchors and revocation status at ``moment`` (the signing time).

    Revocation data that its claimed issuer did not sign is dropped first (and reported): anyone can
    append a DSS to a sealed PDF, and a forged CRL must neither revoke a genuine seal nor make it
    indeterminate. ``revinfo`` is left holding the evidence actually used.
    """
    ignored = _keep_authentic(revinfo, [*other_certs, *revinfo.certs, *trust.certificates])
    outcome = await _validate_chain(certificate, trust, other_certs=other_certs, revinfo=revinfo, moment=moment,
                                    proven=proven, online=online, what=what)
    outcome.ignored[:0] = ignored
    return outcome


class _Memo:
    """A bounded LRU of pure results by the SHA-256 of every input byte (shared by threads)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: dict[bytes, object] = {}
        self._lock = threading.Lock()

    def get(self, key: bytes):
        with self._lock:
            value = self._items.pop(key, None)
            if value is not None:
                self._items[key] = value  # most recent last
            return value

    def put(self, key: bytes, value) -> None:
        with self._lock:
            self._items[key] = value
            if len(self._items) > self._size:
                del self._items[next(iter(self._items))]


def _key(*parts: bytes) -> bytes:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.digest()


_AUTHENTIC = _Memo(512)


def _keep_authentic(revinfo: Revinfo, known: list[x509.Certificate]) -> list[str]:
    """Drop revocation data its claimed issuer did not sign; the reasons, for the report.

    Which items are authentic depends only on the items and the known certificates (signatures
    and names): the answer is remembered by the hash of all their bytes and sources, since a
    verifier sees the same CRLs, OCSP responses and chains on document after document.
    """
    key = _key(b"crls", *(part for crl, source in revinfo.crls for part in (signed_bytes(crl), source.encode())),
               b"ocsps", *(part for o, source in revinfo.ocsps for part in (signed_bytes(o), source.encode())),
               b"known", *(signed_bytes(cert) for cert in known))
    found = _AUTHENTIC.get(key)
    if found is None:
        probe = Revinfo(crls=[(crl, source) for crl, source in revinfo.crls],
                        ocsps=[(o, source) for o, source in revinfo.ocsps])
        ignored = _judge_authentic(probe, known)
        kept_crls = [index for index, item in enumerate(revinfo.crls) if any(item[0] is c for c, _ in probe.crls)]
        kept_ocsps = [index for index, item in enumerate(revinfo.ocsps)
                      if any(item[0] is o for o, _ in probe.ocsps)]
        found = (kept_crls, kept_ocsps, ignored)
        _AUTHENTIC.put(key, found)
    kept_crls, kept_ocsps, ignored = found
    revinfo.crls[:] = [revinfo.crls[index] for index in kept_crls]
    revinfo.ocsps[:] = [revinfo.ocsps[index] for index in kept_ocsps]
    return list(ignored)


def _judge_authentic(revinfo: Revinfo, known: list[x509.Certificate]) -> list[str]:
    cas = [cert for cert in known if cert.ca]
    ignored, crls, ocsps = [], [], []
    for crl, source in revinfo.crls:
        tbs = crl["tbs_cert_list"]
        namesakes = [ca for ca in cas if ca.subject == tbs["issuer"]]
        if any(_signed_by(ca, crl["signature_algorithm"], crl["signature"].native, signed_bytes(tbs))
               for ca in namesakes):
            crls.append((crl, source))
        elif namesakes:  # a CA we know by name did not sign it: forged or corrupt, worth saying
            ignored.append(f"a CRL ({source}) claiming to be from \"{tbs['issuer'].human_friendly}\" is not signed "
                           f"by a known CA certificate of that name: ignored")
        # else: the CRL of a CA outside this signature's chain (a bundle carries every CA's): irrelevant, dropped
    for response, source in revinfo.ocsps:
        try:
            basic = response["response_bytes"]["response"].parsed
            authentic = any(_ocsp_signed_for(basic, ca) for ca in cas)
            about_known = authentic or any(_ocsp_about_certificates_of(basic, ca) for ca in cas)
        except (KeyError, TypeError, ValueError, AttributeError):
            authentic, about_known = False, True
        if authentic:
            ocsps.append((response, source))
        elif about_known:  # as for CRLs: only a response about a CA we know, signed by someone else, is news
            ignored.append(f"an OCSP response ({source}) not signed by a known CA or its responder: ignored")
    revinfo.crls[:] = crls
    revinfo.ocsps[:] = ocsps
    return ignored


async def _validate_chain(certificate: x509.Certificate, trust, *, other_certs=(), revinfo: Revinfo,
                          moment: datetime, proven: bool, online: bool, what: str = "signer") -> ChainOutcome:
    names = ((N.CERTIFICATE_CHAIN, N.REVOCATION) if what == "signer"
             else (N.MAKER_CERTIFICATE_CHAIN, N.MAKER_REVOCATION))
    async with validation_session(trust, other_certs=other_certs, revinfo=revinfo, moment=moment,
                                  online=online) as context:
        validator = CertificateValidator(certificate, intermediate_certs=list(other_certs), validation_context=context)
        try:
            path = await validator.async_validate_usage(set())
        except RevokedError as exc:
            reason = _reason_name(exc.reason)
            chain = r.passed(names[0], "a path to a trust anchor exists (see revocation)")
            if reason == "certificate_hold":
                return ChainOutcome(chain, r.failed(names[1], Sub.TRY_LATER,
                                                    f"the certificate is on hold (seal suspended) since "
                                                    f"{exc.revocation_dt.isoformat()}: {exc.failure_msg}"))
            return ChainOutcome(chain, r.failed(names[1], Sub.REVOKED,
                                                f"revoked ({reason}) at {exc.revocation_dt.isoformat()}, "
                                                f"before the {'proven' if proven else 'claimed'} signing time "
                                                f"{moment.isoformat()}: {exc.failure_msg}"))
        except (ExpiredError, NotYetValidError) as exc:
            # Validity is its own step; establish the path at a moment inside the leaf's validity.
            inside = min(max(moment, certificate.not_valid_before), certificate.not_valid_after)
            if inside == moment:
                return ChainOutcome(r.failed(names[0], Sub.CERTIFICATE_CHAIN_GENERAL_FAILURE, exc.failure_msg),
                                    r.failed(names[1], Sub.CERTIFICATE_CHAIN_GENERAL_FAILURE,
                                             "not checked: no valid path"))
            return await _validate_chain(certificate, trust, other_certs=other_certs, revinfo=revinfo, moment=inside,
                                        proven=proven, online=online, what=what)
        except PathBuildingError as exc:
            return ChainOutcome(r.failed(names[0], Sub.NO_CERTIFICATE_CHAIN_FOUND,
                                         f"no path from the {what} certificate to a trust anchor of the bundle: "
                                         f"{exc}"),
                                r.failed(names[1], Sub.NO_CERTIFICATE_CHAIN_FOUND,
                                         "not checked: no path to a trust anchor"))
        except InsufficientRevinfoError as exc:
            return ChainOutcome(r.passed(names[0], "a path to a trust anchor exists"),
                                r.failed(names[1], Sub.TRY_LATER, exc.failure_msg))
        except DisallowedAlgorithmError as exc:
            return ChainOutcome(r.failed(names[0], Sub.CRYPTO_CONSTRAINTS_FAILURE_NO_POE, exc.failure_msg),
                                r.failed(names[1], Sub.CRYPTO_CONSTRAINTS_FAILURE_NO_POE, "not checked: no valid path"))
        except (PathValidationError, ValidationError) as exc:
            message = getattr(exc, "failure_msg", str(exc))
            return ChainOutcome(r.failed(names[0], Sub.CERTIFICATE_CHAIN_GENERAL_FAILURE, message),
                                r.failed(names[1], Sub.CERTIFICATE_CHAIN_GENERAL_FAILURE, "not checked: no valid path"))
        certs = list(path)
        anchor = certs[0]
        fetch_failures, ignored = [], []
        if online:
            ignored = _add_fetched(revinfo, context, [*other_certs, *certs])
            fetch_failures = [_failure_text(exc) for exc in context.soft_fail_exceptions]
        chain = r.passed(names[0], f"{len(certs)}-certificate path to the trust anchor "
                                   f"\"{anchor.subject.human_friendly}\"")
        revocation = _revocation_summary(certs, revinfo, moment, proven, online, names[1], fetch_failures)
        return ChainOutcome(chain, revocation, certs, ignored)


def _failure_text(exc: Exception) -> str:
    """certvalidator's message ("Failure to fetch CRL from URL ...") and what caused it (e.g. an HTTP 403)."""
    text = str(exc.args[0] if exc.args else exc) or type(exc).__name__
    cause = exc.__cause__
    if cause is not None:
        text += f": {str(cause).strip() or type(cause).__name__}"
    return text


def _add_fetched(revinfo: Revinfo, context: ValidationContext, known: list[x509.Certificate]) -> list[str]:
    """Record what pyhanko-certvalidator fetched (online mode) as evidence, source "fetched".

    What its claimed issuer did not sign (a wrong OCSP responder) is left out, and said.
    """
    known_crls = {signed_bytes(c) for c, _ in revinfo.crls}
    known_ocsps = {signed_bytes(o) for o, _ in revinfo.ocsps}
    fetched = Revinfo(crls=[(crl, "fetched") for crl in context.crls if signed_bytes(crl) not in known_crls],
                      ocsps=[(o, "fetched") for o in context.ocsps if signed_bytes(o) not in known_ocsps])
    ignored = _keep_authentic(fetched, known)
    revinfo.extend(fetched)
    return ignored


def _revocation_summary(path, revinfo: Revinfo, moment: datetime, proven: bool, online: bool, name: str,
                        fetch_failures: list[str] = ()) -> r.Step:
    """certvalidator found nothing revoked at ``moment``; say on what evidence, and look for later revocations.

    In soft-fail mode certvalidator passes a certificate whose CRL and OCSP services could not be
    reached (or answered 4xx/5xx, or not a CRL/OCSP response): online, that is no proof of anything,
    so a path certificate left without authentic evidence after a failed fetch is TRY_LATER.
    """
    if not proven:
        later = revoked_after(path, revinfo, moment)
        if later is not None:
            subject, when, reason = later
            if reason == "certificate_hold":
                return r.failed(name, Sub.TRY_LATER, f"\"{subject}\" is on hold (seal suspended) since "
                                                   f"{when.isoformat()}")
            return r.failed(name, Sub.REVOKED_NO_POE,
                            f"\"{subject}\" was revoked at {when.isoformat()}, after the claimed signing time "
                            f"{moment.isoformat()}, and no time-stamp proves the signature existed before that")
    unchecked = [cert.subject.human_friendly for cert in _without_revocation_status(path, revinfo)]
    if fetch_failures and unchecked:
        return r.failed(name, Sub.TRY_LATER,
                        f"the revocation status of {', '.join(f'{s!r}' for s in unchecked)} could not be checked: "
                        f"fetching revocation data failed ({'; '.join(fetch_failures)})")
    sources = sorted({s for _, s in revinfo.crls} | {s for _, s in revinfo.ocsps})
    if revinfo.crls or revinfo.ocsps:
        also = f"; other fetches failed ({'; '.join(fetch_failures)})" if fetch_failures else ""
        return r.passed(name, f"not revoked at {moment.isoformat()} according to "
                              f"{len(revinfo.crls)} CRL(s) and {len(revinfo.ocsps)} OCSP response(s) "
                              f"({', '.join(sources)}){also}")
    if online:
        return r.passed(name, "no embedded revocation information; none fetched showed a revocation")
    return r.passed(name, "no revocation information embedded and none fetched (offline): nothing shows a "
                          "revocation (soft-fail)")


def _signed_by(issuer: x509.Certificate, algorithm, signature: bytes, data: bytes) -> bool:
    try:
        verify_signature(issuer.public_key, algorithm, signature, data)
        return True
    except Exception:
        return False


def _ocsp_signed_for(basic, issuer: x509.Certificate) -> bool:
    """The OCSP response is signed by the issuer itself or by a responder the issuer certified for OCSP."""
    algorithm, signature = basic["signature_algorithm"], basic["signature"].native
    data = signed_bytes(basic["tbs_response_data"])
    if _signed_by(issuer, algorithm, signature, data):
        return True
    for responder in basic["certs"] or []:
        try:
            delegated = "ocsp_signing" in (responder.extended_key_usage_value.native
                                           if responder.extended_key_usage_value else [])
        except (ValueError, TypeError):
            continue
        if (delegated and responder.issuer == issuer.subject
                and _signed_by(issuer, responder["signature_algorithm"], responder["signature_value"].native,
                               signed_bytes(responder["tbs_certificate"]))
                and _signed_by(responder, algorithm, signature, data)):
            return True
    return False


def _ocsp_about_certificates_of(basic, issuer: x509.Certificate) -> bool:
    """Some single response's CertID names ``issuer`` (RFC 6960 §4.1.1: hashes of its name and key)."""
    for single in basic["tbs_response_data"]["responses"]:
        cert_id = single["cert_id"]
        algorithm = cert_id["hash_algorithm"]["algorithm"].native
        if algorithm not in ("sha1", "sha256"):
            return True  # unusual hash: assume it may be about a CA we know (warn rather than drop in silence)
        if (cert_id["issuer_name_hash"].native == getattr(issuer.subject, algorithm)
                and cert_id["issuer_key_hash"].native == getattr(issuer.public_key, algorithm)):
            return True
    return False


def _without_revocation_status(path, revinfo: Revinfo) -> list[x509.Certificate]:
    """Path certificates (all but the anchor) that no authentic CRL or OCSP response in ``revinfo`` speaks of."""
    missing = []
    for issuer, cert in itertools.pairwise(path):
        by_crl = any(crl["tbs_cert_list"]["issuer"] == cert.issuer
                     and _signed_by(issuer, crl["signature_algorithm"], crl["signature"].native,
                                    signed_bytes(crl["tbs_cert_list"]))
                     for crl, _source in revinfo.crls)
        if not by_crl and not any(_ocsp_answers_for(response, cert, issuer) for response, _source in revinfo.ocsps):
            missing.append(cert)
    return missing


def _ocsp_answers_for(response: asn1_ocsp.OCSPResponse, cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        basic = response["response_bytes"]["response"].parsed
        serials = {single["cert_id"]["serial_number"].native for single in basic["tbs_response_data"]["responses"]}
        return cert.serial_number in serials and _ocsp_signed_for(basic, issuer)
    except (KeyError, TypeError, ValueError, AttributeError):
        return False


def revoked_after(path, revinfo: Revinfo, moment: datetime):
    """(subject, revocation time, reason) of a path certificate listed revoked at or after ``moment``, if any.

    Only evidence signed by the certificate's issuer (or its delegated OCSP responder) counts: a forged
    CRL added to the DSS after sealing cannot make a genuine seal indeterminate.
    """
    for issuer, cert in itertools.pairwise(path):
        serial = cert.serial_number
        for crl, _source in revinfo.crls:
            tbs = crl["tbs_cert_list"]
            if tbs["issuer"] != cert.issuer:
                continue
            entries = [e for e in tbs["revoked_certificates"] or [] if e["user_certificate"].native == serial]
            if not entries or not _signed_by(issuer, crl["signature_algorithm"], crl["signature"].native,
                                              signed_bytes(tbs)):
                continue
            when = entries[0]["revocation_date"].native
            if when >= moment:
                value = entries[0].crl_reason_value
                return cert.subject.human_friendly, when, value.native if value is not None else None
        for response, _source in revinfo.ocsps:
            try:
                basic = response["response_bytes"]["response"].parsed
                for single in basic["tbs_response_data"]["responses"]:
                    status = single["cert_status"]
                    if single["cert_id"]["serial_number"].native != serial or status.name != "revoked":
                        continue
                    when = status.chosen["revocation_time"].native
                    if when >= moment and _ocsp_signed_for(basic, issuer):
                        return cert.subject.human_friendly, when, status.chosen["revocation_reason"].native
            except (KeyError, TypeError, ValueError, AttributeError):
                continue
    return None


def validity_step(certificate: x509.Certificate, signing_time: datetime, proven: bool,
                  validation_time: datetime, name: N = N.VALIDITY_AT_SIGNING_TIME, what: str = "signer") -> r.Step:
    start, end = certificate.not_valid_before, certificate.not_valid_after
    label = "proven (time-stamp)" if proven else "claimed, unproven"
    if signing_time < start:
        return r.failed(name, Sub.NOT_YET_VALID, f"the {what} certificate is valid from {start.isoformat()}, after the "
                                               f"{label} signing time {signing_time.isoformat()}")
    if signing_time > end:
        return r.failed(name, Sub.EXPIRED, f"the {what} certificate expired {end.isoformat()}, before the {label} "
                                         f"signing time {signing_time.isoformat()}")
    if validation_time > end and not proven:
        return r.failed(name, Sub.OUT_OF_BOUNDS_NO_POE,
                        f"the {what} certificate expired {end.isoformat()}; the signing time "
                        f"{signing_time.isoformat()} is only claimed, so nothing proves it signed while valid")
    return r.passed(name, f"the {what} certificate ({start.date()}..{end.date()}) was valid at the {label} signing "
                          f"time {signing_time.isoformat()}")


def key_usage_step(certificate: x509.Certificate) -> r.Step:
    name = N.KEY_USAGE
    try:
        usage = certificate.key_usage_value
        extended = certificate.extended_key_usage_value
    except (ValueError, TypeError) as exc:
        return r.failed(name, Sub.CHAIN_CONSTRAINTS_FAILURE, f"unreadable key usage extensions: {exc}")
    if usage is not None:
        names = set(usage.native)
        if not names & {"digital_signature", "non_repudiation"}:
            return r.failed(name, Sub.CHAIN_CONSTRAINTS_FAILURE,
                            f"the signer certificate's key usage ({', '.join(sorted(names)) or 'none'}) allows "
                            f"neither digitalSignature nor nonRepudiation")
    if extended is not None:
        purposes = set(extended.native)
        if purposes and purposes <= _SERVICE_ONLY_EKUS:
            return r.failed(name, Sub.CHAIN_CONSTRAINTS_FAILURE,
                            f"the signer certificate is restricted to {', '.join(sorted(purposes))}: a service "
                            f"certificate, not a signer's")
    if usage is None:
        return r.passed(name, "the signer certificate has no key usage extension (any usage)")
    return r.passed(name, f"key usage {', '.join(sorted(set(usage.native)))}")


# -- who signed ----------------------------------------------------------------------------------
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def uscc_valid(value: str) -> bool:
    """GB 32100-2015 check character (DESIGN.md); a failing real code is only a warning elsewhere."""
    if len(value) != 18 or any(c not in _USCC_ALPHABET for c in value):
        return False
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(value[:17], _USCC_WEIGHTS, strict=True))
    return _USCC_ALPHABET[(31 - total % 31) % 31] == value[17]


def resident_id_valid(value: str) -> bool:
    """GB 11643-1999 check character."""
    if len(value) != 18 or not value[:17].isdigit():
        return False
    total = sum(int(c) * w for c, w in zip(value[:17], _ID_WEIGHTS, strict=True))
    return "10X98765432"[total % 11] == value[17].upper()


def mask_id_number(value: str) -> str:
    """``110101********1234`` (DESIGN.md): keep the region code and the last four characters."""
    if len(value) <= 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def describe_signer(certificate: x509.Certificate) -> dict:
    subject = certificate.subject.native
    organisation = subject.get("organization_name")
    serial_number = subject.get("serial_number")
    common_name = subject.get("common_name")
    if isinstance(organisation, list):
        organisation = organisation[0]
    if isinstance(common_name, list):
        common_name = common_name[0]
    out = {"subject": certificate.subject.human_friendly, "common_name": common_name,
           "organisation": organisation, "uscc": None, "person": None, "id_number_masked": None,
           "issuer": certificate.issuer.human_friendly, "serial": format(certificate.serial_number, "X"),
           "not_before": r.iso(certificate.not_valid_before), "not_after": r.iso(certificate.not_valid_after),
           "sha256": hashlib.sha256(signed_bytes(certificate)).hexdigest().upper(),
           "key": certificate.public_key.algorithm + (f"/{certificate.public_key.curve[1]}"
                                                      if certificate.public_key.algorithm == "ec" else "")}
    if isinstance(serial_number, str):
        value = serial_number.strip().upper()
        if uscc_valid(value) or (organisation and not resident_id_valid(value)):
            out["uscc"] = value
        elif resident_id_valid(value):
            out["person"] = common_name
            out["id_number_masked"] = mask_id_number(value)
    if out["uscc"] is None and out["person"] is None and not organisation:
        out["person"] = common_name
    return out


def run(coroutine):
    """Run a coroutine to completion, also when the caller's thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def utcnow() -> datetime:
    return datetime.now(UTC)
