"""The CAPTCHA people can pass (issue 18 item 6): a new picture without reloading the form, and the
same code read out (the alternative that does not depend on sight), stateless like the picture."""

from __future__ import annotations

import base64
import io
import secrets
import time
import wave

import pytest

from idp.security import captcha
from tests.idp.support import make_idp

KEY = secrets.token_bytes(32)


def spoken_code(challenge: captcha.Challenge) -> str:
    """What the audio token carries, opened the way the server opens it."""
    challenge_id, expires, blob = challenge.audio_token.split(".")
    raw = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
    return captcha._audio_cipher(KEY).decrypt(raw[:12], raw[12:], f"{challenge_id}.{expires}".encode()).decode()


def test_the_audio_reads_out_the_very_code_of_the_picture_as_a_wav_file(storage):
    challenge = captcha.new_challenge(KEY)
    code = spoken_code(challenge)
    assert len(code) == captcha.CODE_LENGTH and set(code) <= set(captcha.CODE_ALPHABET)
    cache = storage.runtime.replay_cache("captcha")
    assert captcha.check_answer(KEY, challenge.token, code.lower(), replay_cache=cache)
    recording = captcha.audio_for(KEY, challenge.audio_token)
    with wave.open(io.BytesIO(recording)) as wav:  # the standard library's reader: a real WAV file
        seconds = wav.getnframes() / wav.getframerate()
    assert 1.0 < seconds < 30, seconds
    assert code not in challenge.audio_token and code not in challenge.token


def test_an_expired_tampered_or_foreign_audio_token_gives_nothing():
    challenge = captcha.new_challenge(KEY, now=time.time() - 3600)
    assert captcha.audio_for(KEY, challenge.audio_token) is None  # expired
    fresh = captcha.new_challenge(KEY)
    challenge_id, expires, blob = fresh.audio_token.split(".")
    assert captcha.audio_for(KEY, f"{challenge_id}.{int(expires) + 600}.{blob}") is None  # a longer life
    assert captcha.audio_for(secrets.token_bytes(32), fresh.audio_token) is None
    assert captcha.audio_for(KEY, "x.y.z") is None and captcha.audio_for(KEY, "") is None


@pytest.fixture
def idp(storage, tmp_path):
    return make_idp(storage, tmp_path, YITONG_SITE_HOTLINE="12345")


def test_the_page_swaps_in_a_new_picture_and_plays_the_audio_from_our_origin(idp):
    web = idp.app.test_client()
    page = web.get("/login?captcha=1").get_data(as_text=True)
    assert 'id="captcha-refresh"' in page and 'id="captcha-audio" href="/captcha/audio?t=' in page
    assert 'id="captcha-hotline"' in page and 'href="tel:12345"' in page
    new = web.get("/captcha/new")
    body = new.get_json()
    assert new.headers["Cache-Control"] == "no-store" and body["image"].startswith("data:image/png;base64,")
    assert body["token"] != page.split('name="captcha_token" value="')[1].split('"')[0]
    audio = web.get(body["audio"])
    assert audio.status_code == 200 and audio.mimetype == "audio/wav" and audio.data[:4] == b"RIFF"
    assert "media-src 'self'" in web.get("/login").headers["Content-Security-Policy"]
    gone = web.get("/captcha/audio?t=nonsense", headers={"Accept": "text/html"})
    assert gone.status_code == 404 and "验证码已过期" in gone.get_data(as_text=True)


def test_without_a_hotline_setting_no_hotline_is_mentioned(storage, tmp_path):
    page = make_idp(storage, tmp_path).app.test_client().get("/login?captcha=1").get_data(as_text=True)
    assert 'id="captcha-audio"' in page and "热线" not in page and "hotline" not in page.lower()


def test_the_sign_up_page_names_no_hotline_without_a_number(storage, tmp_path):
    page = make_idp(storage, tmp_path).app.test_client().get("/register").get_data(as_text=True)
    assert 'id="captcha-audio"' in page and "热线" not in page and "hotline" not in page.lower()
