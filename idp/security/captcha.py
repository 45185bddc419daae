"""A self-hosted image CAPTCHA: no third-party service, no network, no state until it is answered.

Why self-hosted: a government login must not send its users' IP addresses and browser
fingerprints to a commercial CAPTCHA vendor, and must keep working on networks that cannot
reach one. Why stateless: the challenge travels in a signed token, so any worker can check it.

- The code is 5 characters from a 32-symbol alphabet without look-alikes (no 0/O, 1/I).
- The picture is an SVG of strokes from the small stroke font below, each glyph rotated, scaled
  and shifted, every vertex jittered, mixed in random order with noise curves in the same inks.
  There is no ``<text>`` element, and glyph paths do not reproduce the font's coordinates, so a
  script cannot read the answer out of the markup; it has to look at the picture.
- The token carries an id, an expiry and a *keyed* hash of the answer, HMAC-SM3 (GB/T 32905,
  RFC 2104) under a key derived from the server secret, and is signed with HMAC-SM3 as a whole.
  The answer hash must be keyed: there are only 2^25 answers, and a plain hash would be reversed
  by a bot in a second.
- :func:`check_answer` refuses expired (5 minutes) and tampered tokens, burns the challenge
  id in the replay cache *before* comparing (one guess per picture, right or wrong), and compares
  in constant time. Answers are case-insensitive and NFKC-normalised (full-width ``ＡＢＣ`` from a
  Chinese input method counts as ``ABC``).

What it is not: a wall. Image CAPTCHAs are read by machine-learning models and by paid human
solving services (打码平台); this one makes bulk password guessing cost money and time, which is
all :mod:`idp.security.bruteforce` asks of it — that policy never relies on the CAPTCHA alone.

Accessibility: a picture is not accessible to blind and low-vision users. WCAG 2.1 SC 1.1.1
(Non-text Content) and GB/T 37668-2019 require an alternative that does not depend on the same
sense, see also the W3C note "Inaccessibility of CAPTCHA". The login page must therefore offer
another way past the challenge — the lead will add an audio-free fallback (for example an SMS
one-time code to the account's registered phone, or assisted login through the service hotline).
"""

from __future__ import annotations

import base64
import hmac
import math
import secrets
import time
import unicodedata
from dataclasses import dataclass

from keys.runtime import ReplayCache
from keys.sm3 import hmac_sm3

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # 32 symbols: no 0/O, no 1/I
CODE_LENGTH = 5
CHALLENGE_TTL_SECONDS = 300
MIN_SECRET_KEY_BYTES = 16
_TOKEN_VERSION = "1"
_WIDTH, _HEIGHT = 180, 64

# A single-stroke font on a 4 x 6 grid (x to the right, y downwards): strokes separated by "|",
# points "x,y" separated by spaces. Drawn for this module; every character of CODE_ALPHABET.
_FONT_SOURCE = {
    "A": "0,6 2,0 4,6|1,3 3,3",
    "B": "0,3 0,0 3,0 4,0.8 4,2.2 3,3 0,3 0,6 3,6 4,5.2 4,3.8 3,3",
    "C": "4,1 3,0 1,0 0,1 0,5 1,6 3,6 4,5",
    "D": "0,0 0,6 2.5,6 4,4.5 4,1.5 2.5,0 0,0",
    "E": "4,0 0,0 0,6 4,6|0,3 3,3",
    "F": "4,0 0,0 0,6|0,3 3,3",
    "G": "4,1 3,0 1,0 0,1 0,5 1,6 3,6 4,5 4,3 2,3",
    "H": "0,0 0,6|4,0 4,6|0,3 4,3",
    "J": "1,0 4,0|3,0 3,5 2,6 1,6 0,5",
    "K": "0,0 0,6|4,0 0,4|1.5,2.5 4,6",
    "L": "0,0 0,6 4,6",
    "M": "0,6 0,0 2,3.5 4,0 4,6",
    "N": "0,6 0,0 4,6 4,0",
    "P": "0,6 0,0 3,0 4,0.8 4,2.2 3,3 0,3",
    "Q": "1,0 3,0 4,1 4,5 3,6 1,6 0,5 0,1 1,0|2.5,4.5 4,6",
    "R": "0,6 0,0 3,0 4,0.8 4,2.2 3,3 0,3|2,3 4,6",
    "S": "4,1 3,0 1,0 0,1 0,2 1,3 3,3 4,4 4,5 3,6 1,6 0,5",
    "T": "0,0 4,0|2,0 2,6",
    "U": "0,0 0,5 1,6 3,6 4,5 4,0",
    "V": "0,0 2,6 4,0",
    "W": "0,0 1,6 2,2 3,6 4,0",
    "X": "0,0 4,6|4,0 0,6",
    "Y": "0,0 2,3 4,0|2,3 2,6",
    "Z": "0,0 4,0 0,6 4,6",
    "2": "0,1 1,0 3,0 4,1 4,2 0,6 4,6",
    "3": "0,1 1,0 3,0 4,1 4,2 3,3 4,4 4,5 3,6 1,6 0,5|1.5,3 3,3",
    "4": "3,6 3,0 0,4 4,4",
    "5": "4,0 0,0 0,3 3,3 4,4 4,5 3,6 1,6 0,5",
    "6": "4,1 3,0 1,0 0,1 0,5 1,6 3,6 4,5 4,4 3,3 0,3",
    "7": "0,0 4,0 1.5,6",
    "8": "1,3 0,2 0,1 1,0 3,0 4,1 4,2 3,3 1,3 0,4 0,5 1,6 3,6 4,5 4,4 3,3",
    "9": "4,3 1,3 0,2 0,1 1,0 3,0 4,1 4,5 3,6 1,6 0,5",
}


def _parse_strokes(source: str) -> tuple[tuple[tuple[float, float], ...], ...]:
    return tuple(
        tuple((float(x), float(y)) for x, y in (point.split(",") for point in stroke.split()))
        for stroke in source.split("|")
    )


_FONT = {char: _parse_strokes(source) for char, source in _FONT_SOURCE.items()}
_INKS = ("#1f3a93", "#8e1b1b", "#2d5f2e", "#5b2c83", "#7a4b00", "#1b1b1b", "#0f5e6e")


@dataclass(frozen=True)
class Challenge:
    """What the login page shows: the picture, and a token to send back with the answer."""

    id: str
    svg: str
    token: str


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
    return Challenge(id=challenge_id, svg=render_svg(code), token=token)


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


def _glyph_paths(char: str, centre_x: float, centre_y: float, rng: secrets.SystemRandom) -> list[str]:
    """Path data for one character: rotated, scaled, shifted, every vertex jittered."""
    angle = math.radians(rng.uniform(-20, 20))
    scale_x, scale_y = rng.uniform(4.6, 5.4), rng.uniform(5.2, 6.2)
    cos, sin = math.cos(angle), math.sin(angle)
    paths = []
    for stroke in _FONT[char]:
        points = []
        for x, y in stroke:
            dx = (x - 2 + rng.uniform(-0.18, 0.18)) * scale_x
            dy = (y - 3 + rng.uniform(-0.18, 0.18)) * scale_y
            points.append(f"{centre_x + dx * cos - dy * sin:.1f} {centre_y + dx * sin + dy * cos:.1f}")
        paths.append("M" + " L".join(points))
    return paths


def _noise_paths(rng: secrets.SystemRandom) -> list[str]:
    """Curves across the picture and a few short strokes, in the glyphs' inks."""
    paths = []
    for _ in range(4):
        y0, y1 = rng.uniform(5, _HEIGHT - 5), rng.uniform(5, _HEIGHT - 5)
        cx, cy = rng.uniform(40, _WIDTH - 40), rng.uniform(-20, _HEIGHT + 20)
        paths.append(f"M0 {y0:.1f} Q{cx:.1f} {cy:.1f} {_WIDTH} {y1:.1f}")
    for _ in range(6):
        x, y = rng.uniform(0, _WIDTH), rng.uniform(0, _HEIGHT)
        angle, length = rng.uniform(0, math.tau), rng.uniform(6, 14)
        paths.append(f"M{x:.1f} {y:.1f} L{x + length * math.cos(angle):.1f} {y + length * math.sin(angle):.1f}")
    return paths


def render_svg(code: str) -> str:
    """The picture of ``code``: strokes only, no text, a different drawing every call.

    A glyph's strokes share one ink and width so that people see letters; noise is a little
    thinner, which helps people more than it helps a model (see the module docstring).
    """
    rng = secrets.SystemRandom()
    slot = (_WIDTH - 20) / len(code)
    strokes = [(path, rng.choice(_INKS), rng.uniform(1.5, 2.3)) for path in _noise_paths(rng)]
    for index, char in enumerate(code):
        centre_x = 10 + slot * (index + 0.5) + rng.uniform(-3, 3)
        centre_y = _HEIGHT / 2 + rng.uniform(-5, 5)
        ink, width = rng.choice(_INKS), rng.uniform(2.6, 3.2)
        strokes += [(path, ink, width) for path in _glyph_paths(char, centre_x, centre_y, rng)]
    rng.shuffle(strokes)
    body = "".join(f'<path d="{d}" stroke="{ink}" stroke-width="{width:.1f}"/>' for d, ink, width in strokes)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{_HEIGHT}" '
        f'viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img" aria-label="验证码图片">'
        f'<rect width="{_WIDTH}" height="{_HEIGHT}" fill="#f3f1ea"/>'
        f'<g fill="none" stroke-linecap="round" stroke-linejoin="round">{body}</g></svg>'
    )
