"""A self-hosted image CAPTCHA: no third-party service, no network, no state until it is answered.

Why self-hosted: a government login must not send its users' IP addresses and browser
fingerprints to a commercial CAPTCHA vendor, and must keep working on networks that cannot
reach one. Why stateless: the challenge travels in a signed token, so any worker can check it.

- The code is 5 characters from a 28-symbol alphabet without look-alikes (no 0/O, 1/I, 2/Z, 5/S,
  6/G, 8/B).
- The picture is a PNG drawn with the ``captcha`` library (on Pillow): each glyph in a random
  font and size, rotated, warped and shifted, with dots and arcs over it in the same ink. Only
  pixels travel — no markup, no text chunk — so nothing in the bytes tells glyph from noise; a
  script has to look at the picture. (The former SVG of stroke paths gave its glyphs away by their
  stroke widths: issue 12 read 500 of 500.) The page embeds it as a ``data:`` URI, so the picture
  needs no route of its own and no state, and goes with the page's ``Cache-Control: no-store``.
- The token carries an id, an expiry and a *keyed* hash of the answer, HMAC-SM3 (GB/T 32905,
  RFC 2104) under a key derived from the server secret, and is signed with HMAC-SM3 as a whole.
  The answer hash must be keyed: there are only 28^5 (about
  2^24) answers, and a plain hash would be reversed by a bot in a second.
- :func:`check_answer` refuses expired (5 minutes) and tampered tokens, burns the challenge
  id in the replay cache *before* comparing (one guess per picture, right or wrong), and compares
  in constant time. Answers are case-insensitive and NFKC-normalised (full-width ``ＡＢＣ`` from a
  Chinese input method counts as ``ABC``).

What it is not: a wall. Image CAPTCHAs are read by machine-learning models and by paid human
solving services (打码平台); this one makes bulk password guessing cost money and time, which is
all :mod:`idp.security.bruteforce` asks of it — that policy never relies on the CAPTCHA alone.

Accessibility: a picture is not accessible to blind and low-vision users. WCAG 2.1 SC 1.1.1
(Non-text Content) and GB/T 37668-2019 require an alternative that does not depend on the same
sense, see also the W3C note "Inaccessibility of CAPTCHA". Every challenge therefore also has an
audio form (issue 18 item 6): the same code read out letter by letter by the ``captcha`` library's
AudioCaptcha (its bundled English voices, with background noise), fetched on demand with
:func:`audio_for` from an ``audio_token`` that carries the code SM4-GCM-encrypted under a key
derived from the server secret (GB/T 32907; the challenge id and expiry as associated data), so
this too needs no state. Audio CAPTCHAs are easier for speech recognisers than pictures are for
vision models; the throttling policy, not the CAPTCHA, is what stops bulk guessing. Where set,
the service hotline (YITONG_SITE_HOTLINE) is named next to it for those who can use neither.
"""

from __future__ import annotations

import base64
import hmac
import io
import math
import secrets
import threading
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from captcha.audio import AudioCaptcha
from captcha.image import DEFAULT_FONTS, ImageCaptcha
from PIL import Image
from PIL.ImageFilter import SMOOTH

from keys.errors import DecryptionError
from keys.runtime import ReplayCache
from keys.sm3 import hmac_sm3
from keys.sm4 import GCM_NONCE_BYTES, SM4GCM

CODE_ALPHABET = "ACDEFHJKLMNPQRTUVWXY23456789"  # 28 symbols: no 0/O, 1/I, 2/Z, 5/S, 6/G, 8/B
CODE_LENGTH = 5
CHALLENGE_TTL_SECONDS = 300
MIN_SECRET_KEY_BYTES = 16
_TOKEN_VERSION = "1"
_WIDTH, _HEIGHT = 220, 70
_TEXT_WIDTH = 160  # the code is drawn this wide, then placed anywhere along the picture

# Fonts to draw with, a different one for every character: the library's own (always there) and
# the DejaVu faces Debian installs with fonts-dejavu-core, where present. Sizes are picked per
# character too; the library rotates, warps and shifts each glyph.
_SYSTEM_FONTS = Path("/usr/share/fonts/truetype/dejavu")
_FONT_FILES = (*DEFAULT_FONTS, *(str(_SYSTEM_FONTS / name) for name in (
    "DejaVuSans-Bold.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSansCondensed-Bold.ttf",
) if (_SYSTEM_FONTS / name).is_file()))
_FONT_SIZES = (36, 40, 44)
_NOISE_ARCS = 4
_NOISE_DOTS = 40


@dataclass(frozen=True)
class Challenge:
    """What the login page shows: the picture, and a token to send back with the answer."""

    id: str
    png: bytes
    token: str
    audio_token: str = ""

    @property
    def data_uri(self) -> str:
        """The picture for ``<img src>``: inline, so it needs no route, no state and no second request."""
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _subkey(secret_key: bytes, purpose: str) -> bytes:
    if len(secret_key) < MIN_SECRET_KEY_BYTES:
        raise ValueError(f"the CAPTCHA key needs at least {MIN_SECRET_KEY_BYTES} bytes")
    return hmac_sm3(secret_key, f"yitong captcha v{_TOKEN_VERSION}: {purpose}".encode())


def _clean_answer(answer: str) -> str:
    return unicodedata.normalize("NFKC", answer or "").replace(" ", "").upper()


def _answer_tag(secret_key: bytes, challenge_id: str, answer: str) -> str:
    return _b64(hmac_sm3(_subkey(secret_key, "answer"), f"{challenge_id}\x00{answer}".encode()))


def _signature(secret_key: bytes, payload: str) -> str:
    return _b64(hmac_sm3(_subkey(secret_key, "token"), payload.encode("ascii")))


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def new_challenge(secret_key: bytes, *, now: float | None = None) -> Challenge:
    """A fresh challenge valid for :data:`CHALLENGE_TTL_SECONDS`; the answer is kept nowhere."""
    now = time.time() if now is None else now
    code = _new_code()
    challenge_id = secrets.token_urlsafe(12)
    expires_at = math.floor(now) + CHALLENGE_TTL_SECONDS
    payload = ".".join((_TOKEN_VERSION, challenge_id, str(expires_at), _answer_tag(secret_key, challenge_id, code)))
    token = f"{payload}.{_signature(secret_key, payload)}"
    nonce = secrets.token_bytes(GCM_NONCE_BYTES)
    sealed = _audio_cipher(secret_key).encrypt(nonce, code.encode("ascii"), f"{challenge_id}.{expires_at}".encode())
    audio_token = f"{challenge_id}.{expires_at}.{_b64(nonce + sealed)}"
    return Challenge(id=challenge_id, png=render_png(code), token=token, audio_token=audio_token)


def _audio_cipher(secret_key: bytes) -> SM4GCM:
    return SM4GCM(_subkey(secret_key, "audio")[:16])


def audio_for(secret_key: bytes, audio_token: str, *, now: float | None = None) -> bytes | None:
    """The WAV recording of an unexpired challenge's code (the audio alternative), or None."""
    parts = audio_token.split(".") if isinstance(audio_token, str) else []
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isascii():
        return None
    challenge_id, expires_at = parts[0], int(parts[1])
    if (time.time() if now is None else now) >= expires_at:
        return None
    try:
        blob = base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4))
        code = _audio_cipher(secret_key).decrypt(blob[:GCM_NONCE_BYTES], blob[GCM_NONCE_BYTES:],
                                                 f"{challenge_id}.{expires_at}".encode()).decode("ascii")
    except (ValueError, DecryptionError, UnicodeDecodeError):
        return None
    with _SPEAKING:
        return bytes(_VOICES.generate(code))


def _read_token(secret_key: bytes, token: str) -> tuple[str, int, str] | None:
    """``(challenge id, expiry, answer tag)`` from a token we signed, or None."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 5 or parts[0] != _TOKEN_VERSION or not parts[2].isdigit():
        return None
    payload, signature = ".".join(parts[:4]), parts[4]
    if not payload.isascii() or not hmac.compare_digest(_signature(secret_key, payload).encode(), signature.encode()):
        return None
    return parts[1], int(parts[2]), parts[3]


def check_answer(
    secret_key: bytes, token: str, answer: str, *, replay_cache: ReplayCache, now: float | None = None
) -> bool:
    """True only for the right answer, on an untampered, unexpired token, the first time it is checked.

    Any checked guess, right or wrong, uses the challenge up: a wrong answer needs a new picture.
    """
    read = _read_token(secret_key, token)
    if read is None:
        return False
    challenge_id, expires_at, answer_tag = read
    now = time.time() if now is None else now
    if now >= expires_at:
        return False
    if not replay_cache.first_use(f"captcha:{challenge_id}", expires_at - now + 1):
        return False
    expected = _answer_tag(secret_key, challenge_id, _clean_answer(answer))
    return hmac.compare_digest(expected.encode(), answer_tag.encode())


_IMAGES = ImageCaptcha(width=_TEXT_WIDTH, height=_HEIGHT, fonts=list(_FONT_FILES), font_sizes=_FONT_SIZES)
# The library pastes a glyph through a mask made from its ink's grey level (x 1.97), so a dark ink
# came out faint and lighter than the noise drawn in the same ink; this steeper table makes any of
# our inks opaque (anti-aliased edges stay soft): glyphs and noise look the same, and dark.
_IMAGES.lookup_table = [min(255, level * 8) for level in range(256)]
_IMAGES.character_rotate = (-20, 20)  # the library's ±30° and warps made J, U and Y hard to tell apart
_IMAGES.character_warp_dx = _IMAGES.character_warp_dy = (0.1, 0.2)
# Its fonts (FreeType faces) are shared and built on first use; a face is for one thread at a time
# (safe under the GIL, not on a free-threaded Python): server threads draw one after the other.
_DRAWING = threading.Lock()
_VOICES = AudioCaptcha()  # the library's bundled voices for A-Z and 0-9, loaded on first use
_SPEAKING = threading.Lock()


def _colour(low: int, high: int) -> tuple[int, int, int]:
    return tuple(low + secrets.randbelow(high - low + 1) for _ in range(3))


def render_png(code: str) -> bytes:
    """The picture of ``code``: a PNG of pixels only (no text chunk), a different drawing every call.

    Drawn by the ``captcha`` library (Pillow): every glyph in a random font and size, rotated,
    warped and shifted, random gaps between them. The drawing lands anywhere along the wider
    picture, so a character's place in the code says little about where its pixels are. Then
    dots and arcs in the glyphs' own ink over the whole picture, and a smoothing filter. Dark ink
    on a light ground, for contrast.
    """
    ink, ground = _colour(40, 100), _colour(232, 255)
    with _DRAWING:
        text = _IMAGES.create_captcha_image(code, ink, ground)
    image = Image.new("RGB", (_WIDTH, _HEIGHT), ground)
    image.paste(text, (secrets.randbelow(_WIDTH - _TEXT_WIDTH + 1), 0))
    ImageCaptcha.create_noise_dots(image, ink, number=_NOISE_DOTS)
    for _ in range(_NOISE_ARCS):
        ImageCaptcha.create_noise_curve(image, ink)
    out = io.BytesIO()
    image.filter(SMOOTH).save(out, format="PNG", optimize=False)
    return out.getvalue()
