"""SMS one-time codes (issue 5): a pluggable gateway and the codes themselves.

Gateways implement :class:`SmsGateway` (``send(phone, purpose, code)``). The embedded default,
:class:`OutboxGateway`, sends nothing over the air: it appends each message as one JSON line to
an operator-visible outbox file (``$YITONG_HOME/sms-outbox.jsonl``, or ``YITONG_SMS_OUTBOX``),
readable only by the service account (0600). It is for trials, development and tests; a
production deployment plugs in its operator's SMS gateway. The outbox holds live codes: treat
it like a password file, and never ship it to a log collector.

Codes (:class:`OneTimeCodes`): 6 digits from ``secrets``, valid :data:`CODE_TTL`, single use,
at most :data:`MAX_ATTEMPTS` guesses per code. Only keyed hashes are stored (HMAC-SM3 under a
keystore secret, binding the challenge id, purpose and phone number): with 10^6 possible codes a
plain hash would be reversed at once. A challenge is created even when no message is sent (a
number that must not learn whether it has an account), so the pages answer the same either way.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine, delete, insert, select, update

from idp.errors import IdpError
from idp.models import otp_table
from keys.sm3 import hmac_sm3
from keys.storage import utcnow

CODE_DIGITS = 6
CODE_TTL = timedelta(minutes=5)
MAX_ATTEMPTS = 5
SECRET_NAME = "idp-sms-code"

# What each purpose says (zh-CN, as operators' SMS templates are; {code} is filled in).
MESSAGES = {
    "register": "【一通】您正在注册统一身份认证账号，验证码 {code}，5分钟内有效。请勿告诉他人。",
    "register-taken": "【一通】有人使用本号码申请注册，但本号码已注册账号。如是您本人，请直接登录或找回密码；"
                      "如非本人操作，请忽略本短信。",
    "reset": "【一通】您正在重置登录密码，验证码 {code}，5分钟内有效。如非本人操作，请忽略并勿告诉他人。",
    "phone-change": "【一通】您正在将账号绑定到本手机号，验证码 {code}，5分钟内有效。请勿告诉他人。",
    "phone-changed": "【一通】您的账号已改绑其他手机号。如非本人操作，请立即联系服务热线。",
    "agent-invited": "【一通】您被授权为单位经办人。请登录一通，在“经办人”页面接受或拒绝；不接受则授权不生效。",
}


class SmsError(IdpError):
    """The gateway could not take the message (the page says: try again later)."""


class SmsGateway(Protocol):
    def send(self, phone: str, purpose: str, code: str | None) -> None: ...


class OutboxGateway:
    """The embedded default: one JSON line per message in an operator-visible file (0600)."""

    name = "outbox"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def send(self, phone: str, purpose: str, code: str | None) -> None:
        if purpose not in MESSAGES:
            raise SmsError(f"unknown SMS purpose {purpose!r}")
        record = {"at": utcnow().isoformat(), "to": phone, "purpose": purpose,
                  "text": MESSAGES[purpose].format(code=code or "")}
        if code:
            record["code"] = code
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._lock:  # O_APPEND: whole lines even with several processes writing
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.write(fd, line)
                finally:
                    os.close(fd)
        except OSError as exc:
            raise SmsError(f"cannot write the SMS outbox {self.path}: {exc.strerror}") from None

    def messages(self) -> list[dict]:
        """Everything in the outbox, oldest first (operators and tests read it)."""
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]


class CodeCheck(StrEnum):
    OK = "ok"
    WRONG = "wrong"  # wrong code; guesses remain
    SPENT = "spent"  # expired, used, unknown or out of guesses: ask for a new code


@dataclass(frozen=True)
class Issued:
    challenge_id: str
    code: str | None  # None when nothing is sent


def new_code() -> str:
    return f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"


class OneTimeCodes:
    def __init__(self, engine: Engine, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the SMS code key needs at least 16 bytes")
        self.engine = engine
        self._key = key

    def _hash(self, what: str, *parts: str) -> bytes:
        return hmac_sm3(self._key, "\x00".join((f"yitong-sms/1:{what}", *parts)).encode())

    def issue(self, purpose: str, phone: str) -> Issued:
        """A fresh challenge for ``phone``; the caller sends ``code`` (or, to stay neutral, doesn't)."""
        challenge_id, code, now = secrets.token_urlsafe(18), new_code(), utcnow()
        with self.engine.begin() as conn:
            conn.execute(delete(otp_table).where(otp_table.c.expires_at < now - timedelta(days=1)))
            conn.execute(insert(otp_table).values(
                challenge_id=challenge_id, purpose=purpose, phone_hash=self._hash("phone", phone),
                code_hash=self._hash("code", challenge_id, purpose, phone, code), attempts=0, created_at=now,
                expires_at=now + CODE_TTL, used_at=None))
        return Issued(challenge_id, code)

    def check(self, challenge_id: str, purpose: str, phone: str, code: str) -> CodeCheck:
        """One guess: counted before comparing (atomically), the code burnt when it matches."""
        # NFKC: a Chinese input method in full-width mode types "１２３４５６" for "123456"
        code = unicodedata.normalize("NFKC", code or "").replace(" ", "").strip()
        now = utcnow()
        live = (otp_table.c.challenge_id == (challenge_id or ""), otp_table.c.purpose == purpose,
                otp_table.c.used_at.is_(None), otp_table.c.expires_at > now, otp_table.c.attempts < MAX_ATTEMPTS)
        with self.engine.begin() as conn:
            counted = conn.execute(update(otp_table).where(*live).values(attempts=otp_table.c.attempts + 1)).rowcount
            if not counted:
                return CodeCheck.SPENT
            row = conn.execute(select(otp_table).where(otp_table.c.challenge_id == challenge_id)).first()
        if not secrets.compare_digest(row.phone_hash, self._hash("phone", phone)):
            return CodeCheck.SPENT
        if not (len(code) == CODE_DIGITS and code.isascii() and code.isdigit()) or not secrets.compare_digest(
                row.code_hash, self._hash("code", challenge_id, purpose, phone, code)):
            return CodeCheck.WRONG if row.attempts < MAX_ATTEMPTS else CodeCheck.SPENT
        with self.engine.begin() as conn:
            burnt = conn.execute(update(otp_table).where(otp_table.c.challenge_id == challenge_id,
                                                         otp_table.c.used_at.is_(None)).values(used_at=now)).rowcount
        return CodeCheck.OK if burnt else CodeCheck.SPENT


def open_gateway(kind: str, outbox: Path) -> SmsGateway:
    if kind == "outbox":
        return OutboxGateway(outbox)
    raise SmsError(f"unknown SMS gateway {kind!r}")
