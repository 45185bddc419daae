"""WebAuthn ceremonies (W3C WebAuthn Level 2 §7) through py_webauthn, with the relying party being
this issuer: RP ID = the issuer's host name (§5.1.2: a domain, so an IP-address issuer has no
passkeys), origin = the issuer's scheme, host and port. Challenges live in the signed Flask session
for :data:`CHALLENGE_SECONDS` and are spent by the first answer, right or wrong."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from ipaddress import ip_address
from urllib.parse import urlsplit

from flask import session
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from idp.passkeys.store import Passkey, PasskeyError

CHALLENGE_SECONDS = 300
_KEY = "passkey_challenge"


@dataclass(frozen=True)
class RelyingParty:
    rp_id: str
    origin: str
    name: str

    @classmethod
    def of_issuer(cls, issuer: str, name: str) -> RelyingParty | None:
        parts = urlsplit(issuer)
        host = parts.hostname or ""
        try:
            ip_address(host)
            return None  # WebAuthn RP IDs are domains
        except ValueError:
            pass
        return cls(host, f"{parts.scheme}://{parts.netloc}", name)


@dataclass(frozen=True)
class NewPasskey:
    credential_id: str
    public_key: bytes
    sign_count: int
    synced: bool


def _remember(challenge: bytes, purpose: str, sub: str | None) -> None:
    session[_KEY] = {"value": bytes_to_base64url(challenge), "purpose": purpose, "sub": sub, "at": time.time()}


def _spend(purpose: str) -> dict:
    saved = session.pop(_KEY, None)
    if not saved or saved.get("purpose") != purpose or time.time() - saved["at"] > CHALLENGE_SECONDS:
        raise PasskeyError("the passkey request has expired; try again")
    return saved


def registration_options(rp: RelyingParty, sub: str, account_label: str, existing: list[Passkey]) -> str:
    """JSON for navigator.credentials.create(): a discoverable credential (so it can sign in
    without a user name), user verification required, the person's other passkeys excluded."""
    options = generate_registration_options(
        rp_id=rp.rp_id, rp_name=rp.name, user_id=sub.encode(), user_name=account_label,
        user_display_name=account_label,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED, user_verification=UserVerificationRequirement.REQUIRED),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id)) for p in existing])
    _remember(options.challenge, "register", sub)
    return options_to_json(options)


def verify_registration(rp: RelyingParty, sub: str, credential: str) -> NewPasskey:
    saved = _spend("register")
    if saved.get("sub") != sub:
        raise PasskeyError("the passkey request has expired; try again")
    try:
        verified = verify_registration_response(
            credential=credential, expected_challenge=base64url_to_bytes(saved["value"]),
            expected_rp_id=rp.rp_id, expected_origin=rp.origin, require_user_verification=True)
    except (InvalidRegistrationResponse, ValueError, KeyError, TypeError) as exc:
        raise PasskeyError(f"the passkey could not be checked ({exc})") from None
    return NewPasskey(bytes_to_base64url(verified.credential_id), verified.credential_public_key,
                      verified.sign_count, verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE)


def authentication_options(rp: RelyingParty, purpose: str, sub: str | None, allowed: list[Passkey]) -> str:
    """JSON for navigator.credentials.get(): any discoverable passkey (sign-in without a password,
    ``allowed`` empty) or one of this person's (the second factor after the password)."""
    options = generate_authentication_options(
        rp_id=rp.rp_id, user_verification=UserVerificationRequirement.REQUIRED,
        allow_credentials=[PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id)) for p in allowed])
    _remember(options.challenge, purpose, sub)
    return options_to_json(options)


def credential_id_of(credential: str) -> str:
    try:
        found = json.loads(credential).get("id")
    except (ValueError, AttributeError):
        found = None
    if not isinstance(found, str) or not found:
        raise PasskeyError("no passkey was presented")
    return found


def verify_authentication(rp: RelyingParty, purpose: str, credential: str, passkey: Passkey) -> int:
    """The new signature counter when ``credential`` is a valid assertion by ``passkey``."""
    saved = _spend(purpose)
    if saved.get("sub") not in (None, passkey.sub):
        raise PasskeyError("this passkey belongs to another account")
    try:
        verified = verify_authentication_response(
            credential=credential, expected_challenge=base64url_to_bytes(saved["value"]),
            expected_rp_id=rp.rp_id, expected_origin=rp.origin, credential_public_key=passkey.public_key,
            credential_current_sign_count=passkey.sign_count, require_user_verification=True)
    except (InvalidAuthenticationResponse, ValueError, KeyError, TypeError) as exc:
        raise PasskeyError(f"the passkey could not be checked ({exc})") from None
    return verified.new_sign_count
