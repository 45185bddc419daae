"""Checking a licence's data against its type: every problem named per field, nothing written.

The holder: a person by resident ID number (GB 11643 check character, birth date), an
organisation by USCC (GB 32100 and GB 11714 check characters) — keys.idnumbers does both. A
licence is a legal document, so unlike sign-in (where the legal-person library decides) a
failing USCC check character is refused here.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Any

from keys.idnumbers import IdentifierError, check_resident_id, check_uscc
from licence.catalogue import LicenceType

MAX_NAME = 64
_HTML = re.compile(r"[<>]")


class DataInvalid(ValueError):
    """The data does not fit the type; ``errors`` maps each field to what is wrong with it."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def _clean_text(value: str) -> str | None:
    """NFC text without control characters, or None when it has some."""
    text = unicodedata.normalize("NFC", value).strip()
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co") for c in text):
        return None
    return text


def check_holder(kind: str, holder_id: Any, holder_name: Any, errors: dict[str, str]) -> tuple[str, str]:
    number = ""
    if not isinstance(holder_id, str) or not holder_id.strip():
        errors["holder_id"] = "required"
    elif kind == "person":
        try:
            number = check_resident_id(holder_id).number
        except IdentifierError as exc:
            errors["holder_id"] = f"not a valid resident ID number ({exc.en})"
    else:
        try:
            uscc = check_uscc(holder_id)
            if uscc.warnings:
                errors["holder_id"] = f"the USCC fails its check character ({uscc.warnings[0].en})"
            number = uscc.code
        except IdentifierError as exc:
            errors["holder_id"] = f"not a valid unified social credit code ({exc.en})"
    name = ""
    if not isinstance(holder_name, str) or not holder_name.strip():
        errors["holder_name"] = "required"
    else:
        name = _clean_text(holder_name) or ""
        if not name:
            errors["holder_name"] = "contains control characters"
        elif len(name) > MAX_NAME:
            errors["holder_name"] = f"at most {MAX_NAME} characters"
        elif _HTML.search(name):
            errors["holder_name"] = "must not contain < or >"
    return number, name


def check_data(kind: LicenceType, data: Any, errors: dict[str, str]) -> dict[str, Any]:
    """The data items, normalised; problems are added to ``errors`` (field → message)."""
    if not isinstance(data, dict):
        errors["data"] = "must be a JSON object of the type's data items"
        return {}
    clean: dict[str, Any] = {}
    for name in sorted(set(data) - {i.name for i in kind.items}):
        errors[f"data.{name[:40]}"] = f"not a data item of licence type {kind.code}"
    for item in kind.items:
        value = data.get(item.name)
        key = f"data.{item.name}"
        if value is None or value == "":
            if item.required:
                errors[key] = "required"
            continue
        if item.type == "integer":
            if not isinstance(value, int) or isinstance(value, bool) or abs(value) > 10 ** 15:
                errors[key] = "must be a whole number"
                continue
            clean[item.name] = value
            continue
        if not isinstance(value, str):
            errors[key] = "must be text"
            continue
        text = _clean_text(value)
        if text is None:
            errors[key] = "contains control characters"
        elif len(text) > item.max_length:
            errors[key] = f"at most {item.max_length} characters"
        elif item.type == "date":
            try:
                clean[item.name] = date.fromisoformat(text).isoformat()
            except ValueError:
                errors[key] = "must be a date YYYY-MM-DD"
        elif item.type == "choice" and text not in item.choices:
            errors[key] = f"must be one of {', '.join(item.choices)}"
        else:
            clean[item.name] = text
    return clean


def check_dates(valid_from: Any, valid_to: Any, errors: dict[str, str]) -> tuple[date | None, date | None, bool]:
    """(from, to, to_given) from optional ISO dates; problems go to ``errors``."""
    parsed: list[date | None] = []
    for key, value in (("valid_from", valid_from), ("valid_to", valid_to)):
        if value in (None, ""):
            parsed.append(None)
            continue
        try:
            parsed.append(date.fromisoformat(value) if isinstance(value, str) else None)
            if not isinstance(value, str):
                raise ValueError
        except ValueError:
            errors[key] = "must be a date YYYY-MM-DD"
            parsed.append(None)
    start, end = parsed
    if start and end and end < start:
        errors["valid_to"] = "is before valid_from"
    return start, end, valid_to not in (None, "")
