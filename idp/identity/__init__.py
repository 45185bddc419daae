"""Who a person or organisation really is: identity-number checks and verified-identity storage."""

from idp.identity.numbers import (
    IdentifierError,
    ResidentId,
    Uscc,
    UsccWarning,
    check_mobile,
    check_resident_id,
    check_uscc,
    mask_id_number,
    mask_phone,
)
from idp.identity.organisations import Organisation, Organisations, OrganisationTaken
from idp.identity.store import Identities, IdentityTaken, VerifiedIdentity

__all__ = [
    "IdentifierError",
    "Identities",
    "IdentityTaken",
    "Organisation",
    "OrganisationTaken",
    "Organisations",
    "ResidentId",
    "Uscc",
    "UsccWarning",
    "VerifiedIdentity",
    "check_mobile",
    "check_resident_id",
    "check_uscc",
    "mask_id_number",
    "mask_phone",
]
