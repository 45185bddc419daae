"""One interface per kind of identity source, each answering match / no_match / unavailable.

"Unavailable" is never a no-match: a caller that gets it must leave the person's level as it is
and say "try later". Evidence is what the source said (its reference, the fields it checked);
it is stored with the verified identity and never contains the identity numbers themselves.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Result(StrEnum):
    MATCH = "match"
    NO_MATCH = "no_match"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class Verdict:
    result: Result
    source: str  # population / legal_person / business_licence / bank_4_factor / carrier_3_factor
    checked_at: datetime
    evidence: dict = field(default_factory=dict)
    reason: str | None = None  # why unavailable: timeout, connection, http_503, circuit_open, bad_response...

    @property
    def matched(self) -> bool:
        return self.result is Result.MATCH


class PopulationLibrary(ABC):
    """The population library (人口库): do this name and resident ID number belong together?"""

    kind = "population"

    @abstractmethod
    def verify(self, name: str, id_number: str) -> Verdict: ...


class LegalPersonLibrary(ABC):
    """The legal-person library (法人库): USCC, registered name and legal representative."""

    kind = "legal_person"

    @abstractmethod
    def verify(self, uscc: str, name: str, legal_representative: str,
               legal_representative_id_number: str | None = None) -> Verdict: ...


@dataclass(frozen=True)
class LicencePresentation:
    """A started sign-in by e-licence: the holder scans ``scan_url`` (a QR code) before ``expires_at``."""

    presentation_id: str
    scan_url: str
    expires_at: datetime


@dataclass(frozen=True)
class PresentedLicence:
    """What the e-licence system says of a presentation. ``status``: pending / confirmed /
    declined / expired / used; the licence and its holder only when confirmed (given once)."""

    status: str
    uscc: str | None = None
    name: str | None = None
    holder_name: str | None = None
    holder_id_number: str | None = None
    evidence: dict = field(default_factory=dict)


class BusinessLicenceSystem(ABC):
    """The electronic business-licence system (电子营业执照): a valid licence for this USCC and name,
    and sign-in by licence (the holder confirms a presentation in the e-licence app)."""

    kind = "business_licence"

    @abstractmethod
    def verify(self, uscc: str, name: str) -> Verdict: ...

    @abstractmethod
    def start_presentation(self, relying_party: str) -> LicencePresentation | None:
        """None: the system is unavailable (say "try later")."""

    @abstractmethod
    def presentation(self, presentation_id: str) -> PresentedLicence | None:
        """None: the system is unavailable, or does not know this presentation."""


class BankFourFactor(ABC):
    """Bank-card 4-factor check (银行卡四要素): name, ID number, card number, reserved phone."""

    kind = "bank_4_factor"

    @abstractmethod
    def verify(self, name: str, id_number: str, card_number: str, phone: str) -> Verdict: ...


class CarrierThreeFactor(ABC):
    """Mobile-carrier 3-factor check (运营商三要素): name, ID number, phone."""

    kind = "carrier_3_factor"

    @abstractmethod
    def verify(self, name: str, id_number: str, phone: str) -> Verdict: ...
