"""What the registry hands out and refuses with: seal records, the lifecycle's statuses and transition
table, and the seal errors (with the HTTP status each maps to)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from asn1crypto import x509

from keys.asymmetric import PrivateKey
from seal import image as images
from seal.errors import SealError

HOLDER_KINDS = ("org", "person")
ALGORITHMS = ("sm2", "p256")


class SealStatus(StrEnum):
    """Where a seal is in its lifecycle (the ``status`` column holds the value)."""

    APPLIED = "applied"
    APPROVED = "approved"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Transition:
    """A lifecycle action: the statuses it may start from, the status it leads to, the event it records."""

    sources: tuple[SealStatus, ...]
    target: SealStatus
    event: str


# The one table of which lifecycle action is allowed from which status.
TRANSITIONS = {
    "approve": Transition((SealStatus.APPLIED,), SealStatus.APPROVED, "approved"),
    "make": Transition((SealStatus.APPROVED,), SealStatus.ACTIVE, "made"),
    "suspend": Transition((SealStatus.ACTIVE,), SealStatus.SUSPENDED, "suspended"),
    "resume": Transition((SealStatus.SUSPENDED,), SealStatus.ACTIVE, "resumed"),
    "revoke": Transition((SealStatus.APPLIED, SealStatus.APPROVED, SealStatus.ACTIVE, SealStatus.SUSPENDED),
                         SealStatus.REVOKED, "revoked"),
    "expire": Transition((SealStatus.ACTIVE, SealStatus.SUSPENDED), SealStatus.EXPIRED, "expired"),
}
REVOKE_REASONS = ("unspecified", "keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation",
                  "privilegeWithdrawn")
_USCC = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")
_SUB = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")
_REGION = re.compile(r"^\d{6}$")
_ESID = re.compile(r"^\d{14}$")
_FORBIDDEN_IN_NAME = re.compile(r"[,=+<>#;\\\"\x00-\x1f]")
DEFAULT_DAYS = 1095


@dataclass(frozen=True)
class SealRecord:
    esid: str
    holder_kind: str
    holder_id: str
    holder_name: str
    type: int
    name: str
    algorithm: str
    status: str
    cert_ca: str | None
    cert_serial: str | None
    valid_from: datetime | None
    valid_to: datetime | None
    width_mm: int
    height_mm: int
    created_at: datetime

    def as_cli(self) -> dict:
        """The `yitong seal create --json` shape (DESIGN.md, Operator CLI)."""
        return {
            "esid": self.esid,
            "holder": {"kind": self.holder_kind, "id": self.holder_id, "name": self.holder_name},
            "type": self.type,
            "algorithm": self.algorithm,
            "status": self.status,
            "cert_serial": self.cert_serial,
            "valid_to": self.valid_to.isoformat() if self.valid_to else None,
        }

    def as_api(self) -> dict:
        return {
            **self.as_cli(),
            "name": self.name,
            "type_label": images.SEAL_TYPES.get(self.type, images.SEAL_TYPES[99])[0],
            "cert_ca": self.cert_ca,
            "valid_from": self.valid_from.isoformat() if self.valid_from else None,
            "width_mm": self.width_mm,
            "height_mm": self.height_mm,
            "created_at": self.created_at.isoformat(),
        }


@dataclass
class SealMaterial:
    """What signing needs, loaded once per seal: key, certificate, chain, SESeal, image."""

    record: SealRecord
    key: PrivateKey = field(repr=False)
    certificate: x509.Certificate
    chain: list[x509.Certificate]
    seseal: bytes = field(repr=False)
    png: bytes = field(repr=False)


def _record(row) -> SealRecord:
    return SealRecord(**{name: row._mapping[name] for name in SealRecord.__dataclass_fields__})


def check_esid(esid: str) -> str:
    esid = (esid or "").strip()
    if not _ESID.match(esid):
        raise SealError(f"{esid!r} is not an esID (6-digit region code + 8-digit serial)", kind="bad-esid")
    return esid
