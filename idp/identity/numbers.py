"""Identity numbers (resident ID, USCC, mobile): the checks live in :mod:`keys.idnumbers`, since
licence/ validates holders with them too and must not import idp/. Re-exported here unchanged."""

from keys.idnumbers import (
    CHINA_TIME,
    EARLIEST_BIRTH,
    MOBILE,
    ORG_CODE_WEIGHTS,
    PERMIT_REGIONS,
    PROVINCES,
    RESIDENT_CHECK,
    RESIDENT_WEIGHTS,
    USCC_ALPHABET,
    USCC_WEIGHTS,
    IdentifierError,
    ResidentId,
    Uscc,
    UsccWarning,
    check_mobile,
    check_resident_id,
    check_uscc,
    china_today,
    mask_id_number,
    mask_phone,
    normalise,
    org_code_check_character,
    resident_check_character,
    uscc_check_character,
)

__all__ = ["CHINA_TIME", "EARLIEST_BIRTH", "MOBILE", "ORG_CODE_WEIGHTS", "PERMIT_REGIONS", "PROVINCES",
           "RESIDENT_CHECK", "RESIDENT_WEIGHTS", "USCC_ALPHABET", "USCC_WEIGHTS", "IdentifierError", "ResidentId",
           "Uscc", "UsccWarning", "check_mobile", "check_resident_id", "check_uscc", "china_today",
           "mask_id_number", "mask_phone", "normalise", "org_code_check_character", "resident_check_character",
           "uscc_check_character"]
