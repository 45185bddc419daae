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
    PopulationLibrary,
    Result,
    Verdict,
)
from idp.connectors.breaker import CircuitBreaker
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


class _Retry(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


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
        started = time.monotonic()
        if not self.breaker.allow():
            log.warning("connector %s: unavailable (circuit open)", source)
            return _unavailable(source, "circuit_open")
        deadline = started + self.timeout
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        path = self._prefix + endpoint
        attempt, reason = 0, "timeout"
        while True:
            attempt += 1
            try:
                verdict = self._attempt(source, path, body, deadline)
            except _Retry as retry:
                reason = retry.reason
                pause = self.backoff * (2 ** (attempt - 1))
                if attempt <= self.retries and time.monotonic() + pause < deadline:
                    time.sleep(pause)
                    continue
                verdict = _unavailable(source, reason)
            break
        if verdict.result is Result.UNAVAILABLE:
            self.breaker.record_failure()
        else:
            self.breaker.record_success()
        log.info("connector %s: %s%s after %d attempt(s) in %.0f ms", source, verdict.result.value,
                 f" ({verdict.reason})" if verdict.reason else "", attempt, 1000 * (time.monotonic() - started))
        return verdict

    def _attempt(self, source: str, path: str, body: bytes, deadline: float) -> Verdict:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return _unavailable(source, "timeout")
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
            return _unavailable(source, "timeout")
        except ssl.SSLError:  # a certificate we do not trust, or no common protocol: retrying will not help
            return _unavailable(source, "tls")
        except (ConnectionError, http.client.RemoteDisconnected, OSError) as exc:
            raise _Retry("connection") from exc
        except http.client.HTTPException:
            return _unavailable(source, "bad_response")
        finally:
            connection.close()
        if response.status in RETRY_STATUSES:
            raise _Retry(f"http_{response.status}")
        if response.status != 200:
            return _unavailable(source, f"http_{response.status}")
        return _parse(source, data)


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
