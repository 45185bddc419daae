"""SMS one-time codes and the outbox gateway (idp/accounts/sms.py) on both storage backends."""

from __future__ import annotations

import stat
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from idp.accounts.sms import MAX_ATTEMPTS, CodeCheck, OneTimeCodes, OutboxGateway, SmsError, open_gateway
from idp.models import otp_table
from keys.storage import utcnow
from yitong.settings import Settings, SettingsError

KEY = b"sms code key for the tests, 32b!"
PHONE = "13800138000"


@pytest.fixture
def codes(storage):
    return OneTimeCodes(storage.engine, KEY)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1000000:06d}"


def test_a_code_is_six_digits_stored_only_as_keyed_hashes_and_works_once(codes, storage):
    issued = codes.issue("register", PHONE)
    assert len(issued.code) == 6 and issued.code.isdigit()
    with storage.engine.connect() as conn:
        row = conn.execute(select(otp_table)).one()
    stored = b"".join([row.code_hash, row.phone_hash]) + row.challenge_id.encode()
    assert issued.code.encode() not in stored and PHONE.encode() not in stored and len(row.code_hash) == 32
    assert codes.check(issued.challenge_id, "register", PHONE, issued.code) is CodeCheck.OK
    assert codes.check(issued.challenge_id, "register", PHONE, issued.code) is CodeCheck.SPENT


def test_a_code_is_bound_to_its_purpose_number_and_challenge(codes):
    issued = codes.issue("reset", PHONE)
    other = codes.issue("reset", PHONE)
    assert codes.check(issued.challenge_id, "register", PHONE, issued.code) is CodeCheck.SPENT
    assert codes.check(issued.challenge_id, "reset", "13900139000", issued.code) is CodeCheck.SPENT
    if other.code != issued.code:
        assert codes.check(other.challenge_id, "reset", PHONE, issued.code) is CodeCheck.WRONG
    assert codes.check("no-such-challenge", "reset", PHONE, issued.code) is CodeCheck.SPENT


def test_five_guesses_then_even_the_right_code_is_refused(codes):
    issued = codes.issue("register", PHONE)
    answers = [codes.check(issued.challenge_id, "register", PHONE, wrong(issued.code)) for _ in range(MAX_ATTEMPTS)]
    assert answers == [CodeCheck.WRONG] * (MAX_ATTEMPTS - 1) + [CodeCheck.SPENT]
    assert codes.check(issued.challenge_id, "register", PHONE, issued.code) is CodeCheck.SPENT


def test_malformed_guesses_count_too(codes):
    issued = codes.issue("register", PHONE)
    for guess in ("", "12345", "1234567", "abcdef", "12345x"):
        codes.check(issued.challenge_id, "register", PHONE, guess)
    assert codes.check(issued.challenge_id, "register", PHONE, issued.code) is CodeCheck.SPENT


def test_an_expired_code_is_refused(codes, storage):
    issued = codes.issue("register", PHONE)
    with storage.engine.begin() as conn:
        conn.execute(update(otp_table).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert codes.check(issued.challenge_id, "register", PHONE, issued.code) is CodeCheck.SPENT


def test_a_short_key_is_refused(storage):
    with pytest.raises(ValueError):
        OneTimeCodes(storage.engine, b"short")


def test_the_outbox_is_an_operator_readable_file_of_json_lines(tmp_path):
    outbox = OutboxGateway(tmp_path / "home" / "sms-outbox.jsonl")
    outbox.send(PHONE, "register", "123456")
    outbox.send(PHONE, "register-taken", None)
    messages = outbox.messages()
    assert [m["purpose"] for m in messages] == ["register", "register-taken"]
    assert "123456" in messages[0]["text"] and messages[0]["code"] == "123456" and "code" not in messages[1]
    assert stat.S_IMODE(outbox.path.stat().st_mode) == 0o600
    with pytest.raises(SmsError):
        outbox.send(PHONE, "marketing", None)
    blocked = OutboxGateway(tmp_path / "file" / "outbox.jsonl")
    (tmp_path / "file").write_text("a file where a directory should be")
    with pytest.raises(SmsError, match="cannot write"):
        blocked.send(PHONE, "register", "123456")


def test_settings_choose_the_gateway_and_outbox(tmp_path):
    settings = Settings.from_env({"YITONG_HOME": str(tmp_path)})
    assert settings.sms_gateway == "outbox" and settings.sms_outbox == tmp_path.resolve() / "sms-outbox.jsonl"
    moved = Settings.from_env({"YITONG_HOME": str(tmp_path), "YITONG_SMS_OUTBOX": str(tmp_path / "o.jsonl")})
    assert moved.sms_outbox == (tmp_path / "o.jsonl").resolve()
    with pytest.raises(SettingsError, match="YITONG_SMS_GATEWAY"):
        Settings.from_env({"YITONG_HOME": str(tmp_path), "YITONG_SMS_GATEWAY": "carrier-pigeon"})
    with pytest.raises(SmsError):
        open_gateway("carrier-pigeon", tmp_path / "x")


def test_full_width_digits_and_spaces_from_an_input_method_count_as_the_code(codes):
    issued = codes.issue("register", PHONE)
    typed = " ".join(chr(ord(d) + 0xFEE0) for d in issued.code)  # "１ ２ ３ ..."
    assert codes.check(issued.challenge_id, "register", PHONE, typed) is CodeCheck.OK
