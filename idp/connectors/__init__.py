"""Identity sources (issue 5): population and legal-person libraries, the e-business-licence
system, bank 4-factor and carrier 3-factor checks — one interface per kind (base.py), an HTTP
connector speaking the base-library protocol (http.py), a shared circuit breaker (breaker.py).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
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
from idp.connectors.breaker import CircuitBreaker, breaker_store
from idp.connectors.http import (
    HttpBankFourFactor,
    HttpBusinessLicenceSystem,
    HttpCarrierThreeFactor,
    HttpConnectorClient,
    HttpLegalPersonLibrary,
    HttpPopulationLibrary,
)


@dataclass(frozen=True)
class ConnectorConfig:
    base_url: str
    key: bytes = field(repr=False)
    timeout: float = 5.0
    retries: int = 2
    backoff: float = 0.1
    breaker_threshold: int = 5
    breaker_cooldown: float = 30.0
    ca_file: str | None = None  # CA certificates (PEM) for an https URL; None: the system's trust store


@dataclass
class Connectors:
    population: PopulationLibrary | None = None
    legal_person: LegalPersonLibrary | None = None
    business_licence: BusinessLicenceSystem | None = None
    bank_4_factor: BankFourFactor | None = None
    carrier_3_factor: CarrierThreeFactor | None = None


def build_connectors(config: ConnectorConfig | None, runtime) -> Connectors:
    """HTTP connectors to one base-library URL, each kind with its own circuit breaker."""
    if config is None:
        return Connectors()
    store = breaker_store(runtime)
    host = urlsplit(config.base_url).netloc
    context = ssl.create_default_context(cafile=config.ca_file) if config.ca_file else None

    def client(kind: str) -> HttpConnectorClient:
        breaker = CircuitBreaker(store, f"{kind}@{host}", threshold=config.breaker_threshold,
                                 cooldown=config.breaker_cooldown,
                                 probe_ttl=config.timeout + 1)
        return HttpConnectorClient(config.base_url, config.key, breaker, timeout=config.timeout,
                                   retries=config.retries, backoff=config.backoff, ssl_context=context)

    return Connectors(population=HttpPopulationLibrary(client("population")),
                      legal_person=HttpLegalPersonLibrary(client("legal_person")),
                      business_licence=HttpBusinessLicenceSystem(client("business_licence")),
                      bank_4_factor=HttpBankFourFactor(client("bank_4_factor")),
                      carrier_3_factor=HttpCarrierThreeFactor(client("carrier_3_factor")))


__all__ = [
    "BankFourFactor",
    "BusinessLicenceSystem",
    "CarrierThreeFactor",
    "CircuitBreaker",
    "ConnectorConfig",
    "Connectors",
    "HttpConnectorClient",
    "LegalPersonLibrary",
    "PopulationLibrary",
    "Result",
    "Verdict",
    "build_connectors",
]
