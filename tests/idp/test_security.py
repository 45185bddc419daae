"""Account security: passwords, TOTP and recovery codes, the CAPTCHA, login throttling.

Everything that touches the runtime store uses the ``storage`` fixture, so it runs on the
in-process store and on Redis. Argon2 is slow by design: hashes are made once per module.
"""

from __future__ import annotations

import base64
import io
import re
import threading
import urllib.parse

import pyotp
import pytest
from argon2 import PasswordHasher
from PIL import Image

from idp.security import captcha, passwords
from idp.security.bruteforce import LoginThrottle, ThrottlePolicy, ThrottleReason, account_key, client_ip_key
from idp.security.captcha import CODE_ALPHABET, check_answer, new_challenge, render_png
from idp.security.passwords import (
    OWASP_COST,
    Argon2Cost,
    PasswordProblem,
    active_cost,
    check_password_policy,
    configured_cost,
    dummy_verify,
    hash_password,
    hasher_for,
    needs_rehash,
    verify_password,
)
from idp.security.totp import (
    RECOVERY_CODE_ALPHABET,
    RECOVERY_CODE_BITS,
    hash_recovery_code,
    new_recovery_codes,
    new_secret,
    provisioning_uri,
    use_recovery_code,
    verify_totp,
)

PASSWORD = "长城 sunrise 2031 kite"
NOW = 1_700_000_000.0  # a fixed instant, 20 s into a 30 s TOTP step
CAPTCHA_KEY = b"captcha key for tests, 32 bytes!"
ANSWER = "K7W3P"


@pytest.fixture(scope="module")
def stored_hash() -> str:
    return hash_password(PASSWORD)


@pytest.fixture(scope="module")
def recovery() -> tuple[list[str], list[str]]:
    codes = new_recovery_codes(3)
    return codes, [hash_recovery_code(code) for code in codes]


# Passwords


def test_a_password_verifies_against_its_hash_and_nothing_else(stored_hash):
    assert verify_password(stored_hash, PASSWORD)
    assert not verify_password(stored_hash, PASSWORD + " ")
    assert not verify_password(stored_hash, "")


def test_passwords_are_hashed_with_argon2id_at_the_owasp_parameters_unless_set_otherwise():
    assert configured_cost({}) == OWASP_COST == Argon2Cost(memory_kib=19456, iterations=2, parallelism=1)
    real = hasher_for(configured_cost({"YITONG_PASSWORD_ARGON2": ""}))
    stored = real.hash(PASSWORD)
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$") and real.verify(stored, PASSWORD)
    assert not real.check_needs_rehash(stored)
    assert configured_cost({"YITONG_PASSWORD_ARGON2": " m=65536, t=3, p=2 "}) == Argon2Cost(65536, 3, 2)
    assert not Argon2Cost(65536, 3, 2).below_owasp and Argon2Cost(19456, 1, 1).below_owasp


def test_the_process_hashes_at_its_configured_cost(stored_hash):
    assert stored_hash.startswith(f"$argon2id$v=19${active_cost()}$")
    assert not needs_rehash(stored_hash)
    assert hash_password(PASSWORD) != stored_hash  # a fresh salt every time


@pytest.mark.parametrize("text", ["19456,2,1", "m=19456,t=0,p=1", "m=4,t=1,p=1", "m=19456,t=2", "m=x,t=2,p=1",
                                  "m=99999999,t=2,p=1", "m=19456,t=101,p=1", "m=19456,t=2,p=0"])
def test_a_malformed_cost_is_refused_in_one_line_naming_the_setting(text):
    with pytest.raises(ValueError, match="YITONG_PASSWORD_ARGON2 must read m=<KiB>,t=<iterations>,p=<lanes>"):
        configured_cost({"YITONG_PASSWORD_ARGON2": text})


def test_verification_never_raises_on_a_malformed_or_foreign_hash():
    foreign = [
        "",
        None,
        "plaintext",
        "$argon2id$v=19$m=19456,t=2,p=1$not-base64$",
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",  # bcrypt
    ]
    assert [verify_password(stored, PASSWORD) for stored in foreign] == [False] * len(foreign)


def test_hashes_made_with_weaker_parameters_or_unreadable_need_a_rehash():
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    assert verify_password(weak, PASSWORD)  # still logs in, then gets rehashed
    assert needs_rehash(weak)
    assert needs_rehash("not a hash")


def test_a_password_typed_in_full_width_mode_logs_in_as_half_width(stored_hash):
    full_width = "".join("\u3000" if ch == " " else chr(ord(ch) + 0xFEE0) if ch.isascii() else ch for ch in PASSWORD)
    assert full_width != PASSWORD
    assert verify_password(stored_hash, full_width)


def test_unknown_users_cost_a_real_verification_and_never_succeed():
    assert dummy_verify(PASSWORD) is False
    assert dummy_verify("") is False
    # Equal cost comes from equal parameters: the dummy hash must follow the hasher.
    assert not needs_rehash(passwords.dummy_hash())


def test_the_policy_accepts_a_long_uncommon_password():
    assert check_password_policy(PASSWORD, username="zhangsan", phone="13800138000") == []


def test_the_policy_refuses_short_passwords_in_plain_words():
    problems = check_password_policy("Ab3$xyz")
    assert problems == [PasswordProblem.TOO_SHORT]
    assert "10" in problems[0]


@pytest.mark.parametrize("password", ["woaini1314", "123456789a", "qwe123456", "Woaini1314!", "1qaz2wsx3edc"])
def test_the_policy_refuses_the_most_common_passwords(password):
    assert PasswordProblem.TOO_COMMON in check_password_policy(password)


def test_the_policy_refuses_the_username_and_the_phone_number():
    assert PasswordProblem.CONTAINS_USERNAME in check_password_policy("ZhangSan-likes-tea", username="zhangsan")
    assert PasswordProblem.CONTAINS_PHONE in check_password_policy("13800138000", phone="+86 138 0013 8000")
    assert check_password_policy("tea at 13:80 on the 8th", phone="13800138000") == []


def test_the_policy_refuses_a_password_of_one_repeated_character():
    assert check_password_policy("aaaaaaaaaaaa") == [PasswordProblem.TOO_REPETITIVE]


# TOTP


def _code(secret: str, at: float) -> str:
    return pyotp.TOTP(secret).at(int(at))


def test_totp_accepts_the_current_code_once(storage):
    cache, secret = storage.runtime.replay_cache("totp"), new_secret()
    code = _code(secret, NOW)
    assert verify_totp(secret, code, replay_cache=cache, user_key="u1", now=NOW)
    assert not verify_totp(secret, code, replay_cache=cache, user_key="u1", now=NOW + 5)


def test_totp_accepts_one_step_of_drift_either_way_and_refuses_two(storage):
    cache, secret = storage.runtime.replay_cache("totp"), new_secret()

    def at_offset(seconds: int) -> bool:
        return verify_totp(secret, _code(secret, NOW + seconds), replay_cache=cache, user_key="u1", now=NOW)

    accepted = [at_offset(-30), at_offset(30)]
    refused = [at_offset(-60), at_offset(60)]
    assert accepted == [True, True]
    assert refused == [False, False]


def test_totp_replay_is_remembered_per_user(storage):
    cache, secret = storage.runtime.replay_cache("totp"), new_secret()
    code = _code(secret, NOW)
    assert verify_totp(secret, code, replay_cache=cache, user_key="u1", now=NOW)
    assert verify_totp(secret, code, replay_cache=cache, user_key="u2", now=NOW)  # another user's replay entry


def test_totp_forgives_spaces_and_full_width_digits_but_nothing_else(storage):
    cache, secret = storage.runtime.replay_cache("totp"), new_secret()
    code = _code(secret, NOW)
    full_width = "".join(chr(ord(d) + 0xFEE0) for d in code[:3]) + " " + code[3:]
    assert verify_totp(secret, full_width, replay_cache=cache, user_key="u1", now=NOW)
    for bad in ["", "12345", "abcdef", code + "0", "١٢٣٤٥٦"]:
        assert not verify_totp(secret, bad, replay_cache=cache, user_key="u1", now=NOW)


def test_a_new_secret_is_160_bits_and_the_uri_names_issuer_and_account():
    secret = new_secret()
    assert len(base64.b32decode(secret)) == 20
    uri = provisioning_uri(secret, "13800138000")
    parsed = urllib.parse.urlparse(uri)
    query = urllib.parse.parse_qs(parsed.query)
    assert (parsed.scheme, parsed.netloc) == ("otpauth", "totp")
    assert urllib.parse.unquote(parsed.path) == "/Yitong 一通:13800138000"
    assert query["secret"] == [secret] and query["issuer"] == ["Yitong 一通"]


# Recovery codes


def test_recovery_codes_are_ten_distinct_human_friendly_codes_of_at_least_50_bits():
    codes = new_recovery_codes()
    pattern = re.compile(rf"^[{RECOVERY_CODE_ALPHABET}]{{4}}(-[{RECOVERY_CODE_ALPHABET}]{{4}}){{2}}$")
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(pattern.match(code) for code in codes)
    assert RECOVERY_CODE_BITS >= 50
    assert not set("01ilo") & set(RECOVERY_CODE_ALPHABET)


def test_a_recovery_code_works_once(recovery):
    codes, hashes = recovery
    ok, remaining = use_recovery_code(hashes, codes[1])
    assert ok and len(remaining) == 2 and hashes[1] not in remaining
    assert use_recovery_code(remaining, codes[1]) == (False, remaining)
    assert hashes[0].startswith("$argon2id$") and codes[0] not in "".join(hashes)


def test_a_recovery_code_is_forgiving_about_case_and_dashes_but_not_about_content(recovery):
    codes, hashes = recovery
    assert use_recovery_code(hashes, codes[0].upper().replace("-", " "))[0]
    assert use_recovery_code(hashes, "2222-3333-4444") == (False, hashes)
    assert use_recovery_code(hashes, "not a code") == (False, hashes)


# CAPTCHA


@pytest.fixture
def known_answer(monkeypatch) -> str:
    monkeypatch.setattr(captcha, "_new_code", lambda: ANSWER)
    return ANSWER


def test_the_captcha_accepts_the_right_answer_once_in_any_case(storage, known_answer):
    cache = storage.runtime.replay_cache("captcha")
    challenge = new_challenge(CAPTCHA_KEY, now=NOW)
    assert check_answer(CAPTCHA_KEY, challenge.token, known_answer.lower(), replay_cache=cache, now=NOW + 10)
    assert not check_answer(CAPTCHA_KEY, challenge.token, known_answer, replay_cache=cache, now=NOW + 11)


def test_a_wrong_captcha_answer_uses_the_challenge_up(storage, known_answer):
    cache = storage.runtime.replay_cache("captcha")
    challenge = new_challenge(CAPTCHA_KEY, now=NOW)
    assert not check_answer(CAPTCHA_KEY, challenge.token, "K7W3R", replay_cache=cache, now=NOW + 10)
    assert not check_answer(CAPTCHA_KEY, challenge.token, known_answer, replay_cache=cache, now=NOW + 11)


def test_the_captcha_expires_after_five_minutes(storage, known_answer):
    cache = storage.runtime.replay_cache("captcha")
    fresh, stale = new_challenge(CAPTCHA_KEY, now=NOW), new_challenge(CAPTCHA_KEY, now=NOW)
    assert check_answer(CAPTCHA_KEY, fresh.token, known_answer, replay_cache=cache, now=NOW + 299)
    assert not check_answer(CAPTCHA_KEY, stale.token, known_answer, replay_cache=cache, now=NOW + 300)


def test_a_tampered_or_foreign_captcha_token_is_refused(storage, known_answer):
    cache = storage.runtime.replay_cache("captcha")
    token = new_challenge(CAPTCHA_KEY, now=NOW).token
    version, challenge_id, expires_at, tag, signature = token.split(".")
    other_tag = new_challenge(CAPTCHA_KEY, now=NOW).token.split(".")[3]
    forged = [
        ".".join((version, challenge_id, str(int(expires_at) + 3600), tag, signature)),  # longer life
        ".".join((version, challenge_id, expires_at, other_tag, signature)),  # another answer
        ".".join((version, "another-id", expires_at, tag, signature)),
        token[:-2],
        "",
        "1.a.b.c.d",
    ]
    other_key = new_challenge(b"another server's captcha key!!!!", now=NOW).token
    for bad in [*forged, other_key]:
        assert not check_answer(CAPTCHA_KEY, bad, known_answer, replay_cache=cache, now=NOW + 10)
    assert check_answer(CAPTCHA_KEY, token, known_answer, replay_cache=cache, now=NOW + 10)  # the original is intact


def test_neither_the_picture_nor_the_token_spells_the_answer(known_answer):
    challenge = new_challenge(CAPTCHA_KEY, now=NOW)
    assert challenge.png.startswith(b"\x89PNG\r\n\x1a\n") and challenge.data_uri.startswith("data:image/png;base64,")
    assert known_answer.encode() not in challenge.png and known_answer.lower().encode() not in challenge.png
    assert known_answer not in challenge.token.upper()
    assert render_png(known_answer) != render_png(known_answer)  # drawn afresh every time


def test_the_captcha_alphabet_has_no_look_alikes_and_every_character_draws():
    assert not set("0O1I") & set(CODE_ALPHABET)
    assert not set("ZSGB") & set(CODE_ALPHABET) and len(set(CODE_ALPHABET)) == 28  # twins of 2, 5, 6, 8
    for start in range(0, len(CODE_ALPHABET), 5):
        picture = Image.open(io.BytesIO(render_png(CODE_ALPHABET[start : start + 5])))
        assert picture.size == (220, 70) and picture.convert("L").getextrema()[0] < 120  # dark ink was drawn


def test_the_captcha_refuses_a_weak_key():
    with pytest.raises(ValueError):
        new_challenge(b"short")


# Login throttling


def _attempt(throttle: LoginThrottle, account: str, ip: str, *, password_right: bool = False):
    decision = throttle.before_attempt(account, ip)
    if decision.allowed:
        (throttle.record_success if password_right else throttle.record_failure)(account, ip)
    return decision


def test_the_owner_logs_in_from_home_while_an_attacker_hammers_the_account(storage):
    throttle = LoginThrottle(storage.runtime)
    attacker = [_attempt(throttle, "victim", "203.0.113.66") for _ in range(25)]
    assert [d.captcha_required for d in attacker[:6]] == [False] * 5 + [True]
    assert [d.allowed for d in attacker] == [True] * 20 + [False] * 5
    owner = _attempt(throttle, "victim", "198.51.100.7", password_right=True)
    assert owner.allowed and not owner.captcha_required


def test_an_attack_from_many_addresses_costs_the_owner_a_captcha_never_a_refusal(storage):
    throttle = LoginThrottle(storage.runtime)
    for n in range(40):
        for _ in range(3):
            _attempt(throttle, "victim", f"203.0.113.{n}")
    owner = [_attempt(throttle, "victim", "198.51.100.7", password_right=True) for _ in range(10)]
    assert all(d.allowed and d.captcha_required for d in owner)
    assert owner[0].reasons == (ThrottleReason.ACCOUNT_FROM_ALL_IPS,)


def test_a_refused_address_gets_retry_after_and_other_addresses_are_untouched(storage):
    throttle = LoginThrottle(storage.runtime, ThrottlePolicy(ip_failures=3, ip_window_seconds=120))
    decisions = [_attempt(throttle, f"user{n}", "203.0.113.66") for n in range(4)]
    refused = decisions[-1]
    assert not refused.allowed and refused.reasons == (ThrottleReason.CLIENT_IP,)
    assert 1 <= refused.retry_after_seconds <= 120
    assert throttle.before_attempt("user0", "203.0.113.67").allowed


def test_logging_into_ones_own_account_buys_an_attacker_no_more_guesses(storage):
    throttle = LoginThrottle(storage.runtime)
    guesses_allowed = 0
    for n in range(40):
        if n % 4 == 3:
            _attempt(throttle, "attacker-own", "203.0.113.66", password_right=True)
        elif _attempt(throttle, "victim", "203.0.113.66").allowed:
            guesses_allowed += 1
    assert guesses_allowed < 20


def test_a_parallel_burst_cannot_slip_past_the_per_address_limit(storage):
    throttle = LoginThrottle(storage.runtime, ThrottlePolicy(ip_failures=5))
    allowed: list[bool] = []
    barrier = threading.Barrier(8)

    def burst():
        barrier.wait()
        mine = [throttle.before_attempt(f"user{n}", "203.0.113.66").allowed for n in range(15)]
        allowed.extend(mine)

    threads = [threading.Thread(target=burst) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == 120 and allowed.count(True) == 10  # 2 points a failure: no more than 2 x 5 in flight


def test_accounts_are_counted_whatever_their_case_and_ipv6_clients_per_64():
    assert account_key("Alice") == account_key(" alice ") != account_key("alice2")
    assert "alice" not in account_key("alice")
    assert client_ip_key("2001:db8:0:0:1::1") == client_ip_key("2001:db8::ffff:ffff") == "2001:db8::/64"
    assert client_ip_key("2001:db8:0:1::1") != client_ip_key("2001:db8::1")
    assert client_ip_key("::ffff:192.0.2.1") == client_ip_key("192.0.2.1") == "192.0.2.1"
    assert client_ip_key("not an address") == client_ip_key("") == "unparseable"


def test_a_policy_must_allow_at_least_one_failure_per_scope():
    with pytest.raises(ValueError):
        ThrottlePolicy(account_failures=0)
