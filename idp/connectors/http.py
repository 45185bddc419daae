"""The HTTP connector: the base-library protocol v1 (README.md "Real name and the base library";
the reference service is baselib/, which idp/ never imports — only this wire format is shared).

Each call has ONE time budget (``timeout`` seconds) covering every attempt and the pauses between
them, so a person never waits longer than that. Within the budget:

- connection failures (refused, reset, no route) and 502/503/504/429 answers are retried, at most
  ``retries`` times, after a pause of ``backoff`` · 2ⁿ seconds — the verification requests are
  read-only queries, so repeating them is safe (each attempt is signed afresh with a new nonce);
- a timeout is not retried (the budget is spent), nor is a TLS failure (an untrusted certificate),
  nor any other answer: a 500, a 4xx (our signature or request was refused: a configuration
  problem), or a body that is not a result.

Anything that is not a well-formed ``match`` / ``no_match`` answer is "unavailable", never a
no-match, and counts as a failure for the circuit breaker (idp/connectors/breaker.py).
Logs name the source, the outcome, the reason and the timing — never a name or a number.
"""

from __future__ import annotations

import http.client
import json
import logging
import secrets
import ssl
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from idp.connectors.base import (
    BankFourFactor,
    BusinessLicenceSystem,
    CarrierThreeFactor,
    LegalPersonLibrary,
    LicencePresentation,
    PopulationLibrary,
    PresentedLicence,
    Result,
    Verdict,
)
from idp.connectors.breaker import CircuitBreaker
from keys import observe
from keys.clock import utcnow
from keys.sm3 import hmac_sm3, sm3

log = logging.getLogger("yitong.idp.connectors")

VERSION_LABEL = "YT-BASELIB-HMAC-SM3/1"
RETRY_STATUSES = (429, 502, 503, 504)
MAX_RESPONSE = 64 * 1024


def sign_request(key: bytes, method: str, path: str, body: bytes) -> dict[str, str]:
    """The protocol's three headers: timestamp, fresh nonce, HMAC-SM3 over the canonical string."""
    timestamp, nonce = str(int(time.time())), secrets.token_urlsafe(18)
    canonical = "\n".join([VERSION_LABEL, method.upper(), path, timestamp, nonce, sm3(body).hex()]).encode()
    return {"X-Baselib-Timestamp": timestamp, "X-Baselib-Nonce": nonce,
            "X-Baselib-Signature": hmac_sm3(key, canonical).hex()}


@dataclass
class HttpConnectorClient:
    """Signed JSON calls to one base-library URL, with a time budget, retries and a circuit breaker."""

    base_url: str
    key: bytes
    breaker: CircuitBreaker
    timeout: float = 5.0
    retries: int = 2
    backoff: float = 0.1
    ssl_context: ssl.SSLContext | None = None

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"a connector base URL is http(s)://host[:port][/path]; got {self.base_url!r}")
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname, parts.port
        self._prefix = parts.path.rstrip("/")

    def call(self, source: str, endpoint: str, payload: dict) -> Verdict:
        """A verification: ``match`` / ``no_match``, or ``unavailable`` with the reason."""
        answer, reason, attempts, started = self._exchange(source, endpoint, payload)
        verdict = _unavailable(source, reason) if answer is None else _parse(source, answer)
        self._account(source, verdict.result is Result.UNAVAILABLE, attempts, started,
                      verdict.result.value + (f" ({verdict.reason})" if verdict.reason else ""))
        return verdict

    def call_json(self, source: str, endpoint: str, payload: dict, well_formed) -> dict | None:
        """Any other call of the protocol: its JSON object if ``well_formed(object)``, else None
        (unavailable) — the same budget, retries and circuit breaker as :meth:`call`. Only for
        requests that may be repeated (a retried "start" makes a second, unused one)."""
        answer, reason, attempts, started = self._exchange(source, endpoint, payload)
        data = None
        if answer is not None and len(answer) <= MAX_RESPONSE:
            try:
                data = json.loads(answer)
            except ValueError:
                data = None
            if not isinstance(data, dict) or not well_formed(data):
                data, reason = None, "bad_response"
        elif answer is not None:
            reason = "bad_response"
        self._account(source, data is None, attempts, started, "answered" if data is not None else
                      f"unavailable ({reason})")
        return data

    def _account(self, source: str, failed: bool, attempts: int, started: float, outcome: str) -> None:
        if attempts:  # 0: the circuit was open, nothing was sent
            (self.breaker.record_failure if failed else self.breaker.record_success)()
        try:
            observe.connector_call(source, outcome.split(" ", 1)[0] if attempts else "circuit_open",
                                   time.monotonic() - started, self.breaker.state())
        except Exception:  # a metric must never cost a verification
            log.warning("connector %s: could not count the call", source)
        log.info("connector %s: %s after %d attempt(s) in %.0f ms", source, outcome, attempts,
                 1000 * (time.monotonic() - started))

    def _exchange(self, source: str, endpoint: str, payload: dict) -> tuple[bytes | None, str | None, int, float]:
        """(body of a 200 answer, None) or (None, why not), attempts made, when it started."""
        started = time.monotonic()
        if not self.breaker.allow():
            log.warning("connector %s: unavailable (circuit open)", source)
            return None, "circuit_open", 0, started
        deadline = started + self.timeout
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        path = self._prefix + endpoint
        attempt = 0
        while True:
            attempt += 1
            answer, reason, retryable = self._attempt(path, body, deadline)
            if retryable:
                pause = self.backoff * (2 ** (attempt - 1))
                if attempt <= self.retries and time.monotonic() + pause < deadline:
                    time.sleep(pause)
                    continue
            return answer, reason, attempt, started

    def _attempt(self, path: str, body: bytes, deadline: float) -> tuple[bytes | None, str | None, bool]:
        """(body of a 200 answer, None, False), or (None, why not, whether another attempt may help)."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None, "timeout", False
        headers = {"Content-Type": "application/json", "Accept": "application/json",
                   **sign_request(self.key, "POST", path, body)}
        if self._https:
            connection = http.client.HTTPSConnection(self._host, self._port, timeout=remaining,
                                                     context=self.ssl_context or ssl.create_default_context())
        else:
            connection = http.client.HTTPConnection(self._host, self._port, timeout=remaining)
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read(MAX_RESPONSE + 1)
        except TimeoutError:
            return None, "timeout", False
        except ssl.SSLError:  # a certificate we do not trust, or no common protocol: retrying will not help
            return None, "tls", False
        except (ConnectionError, http.client.RemoteDisconnected, OSError):
            return None, "connection", True
        except http.client.HTTPException:
            return None, "bad_response", False
        finally:
            connection.close()
        if response.status != 200:
            return None, f"http_{response.status}", response.status in RETRY_STATUSES
        return data, None, False


def _unavailable(source: str, reason: str) -> Verdict:
    return Verdict(Result.UNAVAILABLE, source, utcnow(), {}, reason)


def _parse(source: str, data: bytes) -> Verdict:
    if len(data) > MAX_RESPONSE:
        return _unavailable(source, "bad_response")
    try:
        answer = json.loads(data)
        result = Result(answer["result"])
        evidence = answer["evidence"]
        checked_at = datetime.fromisoformat(answer["checked_at"])
    except (ValueError, KeyError, TypeError):
        return _unavailable(source, "bad_response")
    if result is Result.UNAVAILABLE or not isinstance(evidence, dict) or checked_at.tzinfo is None:
        return _unavailable(source, "bad_response")
    return Verdict(result, source, checked_at, evidence)


# -- one class per kind of source, over the same client ----------------------------------------------------
class HttpPopulationLibrary(PopulationLibrary):
    def __init__(self, client: HttpConnectorClient) -> None:
        self.client = client

    def verify(self, name: str, id_number: str) -> Verdict:
        return self.client.call(self.kind, "/api/v1/population/verify", {"name": name, "id_number": id_number})


class HttpLegalPersonLibrary(LegalPersonLibrary):
    def __init__(self, client: HttpConnectorClient) -> None:
        self.client = client

    def verify(self, uscc: str, name: str, legal_representative: str,
               legal_representative_id_number: str | None = None) -> Verdict:
        payload = {"uscc": uscc, "name": name, "legal_representative": legal_representative}
        if legal_representative_id_number:
            payload["legal_representative_id_number"] = legal_representative_id_number
        return self.client.call(self.kind, "/api/v1/legal-person/verify", payload)


class HttpBusinessLicenceSystem(BusinessLicenceSystem):
    def __init__(self, client: HttpConnectorClient) -> None:
        self.client = client

    def verify(self, uscc: str, name: str) -> Verdict:
        return self.client.call(self.kind, "/api/v1/licence/verify", {"uscc": uscc, "name": name})

    def start_presentation(self, relying_party: str) -> LicencePresentation | None:
        def well_formed(data: dict) -> bool:
            fields = ("presentation_id", "scan_url", "expires_at")
            return all(isinstance(data.get(k), str) and data[k] for k in fields) \
                and urlsplit(data["scan_url"]).scheme in ("http", "https") and _instant(data["expires_at"]) is not None

        data = self.client.call_json(self.kind, "/api/v1/licence/presentations", {"relying_party": relying_party},
                                     well_formed)
        return None if data is None else LicencePresentation(data["presentation_id"], data["scan_url"],
                                                             _instant(data["expires_at"]))

    def presentation(self, presentation_id: str) -> PresentedLicence | None:
        def well_formed(data: dict) -> bool:
            if data.get("status") not in ("pending", "confirmed", "declined", "expired", "used"):
                return False
            if data["status"] != "confirmed":
                return True
            licence, holder = data.get("licence"), data.get("holder")
            return isinstance(licence, dict) and isinstance(holder, dict) and isinstance(data.get("evidence"), dict) \
                and all(isinstance(v, str) and v for v in (licence.get("uscc"), licence.get("name"),
                                                           holder.get("name"), holder.get("id_number")))

        data = self.client.call_json(self.kind, "/api/v1/licence/presentations/result",
                                     {"presentation_id": presentation_id}, well_formed)
        if data is None:
            return None
        if data["status"] != "confirmed":
            return PresentedLicence(data["status"])
        licence, holder = data["licence"], data["holder"]
        return PresentedLicence("confirmed", licence["uscc"], licence["name"], holder["name"], holder["id_number"],
                                data["evidence"])


def _instant(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo is not None else None


class HttpBankFourFactor(BankFourFactor):
    """Same protocol. The card number goes only into the signed request body: never into a log line."""

    def __init__(self, client: HttpConnectorClient) -> None:
        self.client = client

    def verify(self, name: str, id_number: str, card_number: str, phone: str) -> Verdict:
        return self.client.call(self.kind, "/api/v1/bank/verify",
                                {"name": name, "id_number": id_number, "card_number": card_number, "phone": phone})


class HttpCarrierThreeFactor(CarrierThreeFactor):
    """Same protocol."""

    def __init__(self, client: HttpConnectorClient) -> None:
        self.client = client

    def verify(self, name: str, id_number: str, phone: str) -> Verdict:
        return self.client.call(self.kind, "/api/v1/carrier/verify",
                                {"name": name, "id_number": id_number, "phone": phone})
