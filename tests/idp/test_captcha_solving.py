"""The CAPTCHA cannot be read from the bytes of the page that shows it (issue 12, item 3).

The former picture was an SVG of stroke paths: glyph strokes were 2.6-3.2 wide, noise at most 2.3
wide, so a script picked the glyphs out by their attributes and matched them against the font
(500/500 offline). Here the pages are fetched through the real app, 200 of them with answers we
know (the CAPTCHA's random code is fixed per page, as tests/idp/accounts_support.py does; the
picture and token are the real ones), and three solvers that read bytes, not pictures, are
trained on half and scored on the other half, one guess per character:

- ``MarkupSolver``: the issue's attack. Strokes thicker than 2.5 are glyphs; a glyph's strokes
  share one ink and width; glyphs in reading order; each recognised by its strokes' point counts.
- ``ByteSolver``: the embedded picture's byte histogram and length, nearest neighbour.
- ``PixelSolver``: the decoded raster cut into five columns, each matched to the nearest column
  at the same place in the training half (a "template" reader of the simplest kind).

Each must stay near chance, 1/len(alphabet) per character, and read no whole answer. Against the
SVG implementation the markup solver read about half of the characters and 8 of 100 whole
answers (the ByteSolver twice chance), so this test fails there.
"""

from __future__ import annotations

import base64
import html
import io
import re
import secrets
import struct
from collections import Counter

import pytest
from PIL import Image

from idp.security import captcha
from idp.security.captcha import CODE_ALPHABET
from tests.idp.accounts_support import field
from tests.idp.support import make_idp

PAGES = 200
CHANCE = 1 / len(CODE_ALPHABET)
DATA_URI = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


@pytest.fixture
def idp(storage, tmp_path):
    return make_idp(storage, tmp_path)


def pages_with_known_answers(idp, monkeypatch, count: int, path: str = "/register") -> list[tuple[str, str]]:
    """``count`` CAPTCHA pages from the app, each with the (random) answer it was made for."""
    answers = ["".join(secrets.choice(CODE_ALPHABET) for _ in range(captcha.CODE_LENGTH)) for _ in range(count)]
    pending, random_code = iter(answers), captcha._new_code
    monkeypatch.setattr(captcha, "_new_code", lambda: next(pending, None) or random_code())
    web = idp.app.test_client()
    pages = []
    for answer in answers:
        response = web.get(path)
        assert response.status_code == 200
        pages.append((response.get_data(as_text=True), answer))
    return pages


def embedded_picture(page: str) -> bytes:
    """The picture's bytes as a browser gets them: a data: URI's payload, or inline markup."""
    found = DATA_URI.search(page)
    if found:
        return base64.b64decode(found.group(1))
    svg = re.search(r"<svg.*?</svg>", page, re.S)
    return svg.group(0).encode() if svg else b""


# -- the solvers ---------------------------------------------------------------------------------------------


class MarkupSolver:
    """Glyph strokes told from noise by their SVG attributes, recognised by their shape's point counts."""

    PATH = re.compile(r'<path d="([^"]+)" stroke="([^"]+)" stroke-width="([\d.]+)"')

    def glyphs(self, page: str) -> list[tuple[int, ...]]:
        groups: dict[tuple[str, str], list[str]] = {}
        for d, ink, width in self.PATH.findall(page):
            if float(width) > 2.5 and "Q" not in d:
                groups.setdefault((ink, width), []).append(d)
        placed = []
        for strokes in groups.values():
            xs = [float(x) for d in strokes for x in re.findall(r"[ML]([\d.]+) ", d)]
            signature = tuple(sorted(len(re.findall(r"[ML]", d)) for d in strokes))
            placed.append((sum(xs) / len(xs), signature))
        return [signature for _, signature in sorted(placed)]

    def train(self, pages: list[tuple[str, str]]) -> None:
        self.known: dict[tuple[int, ...], Counter] = {}
        for page, answer in pages:
            glyphs = self.glyphs(page)
            if len(glyphs) == len(answer):
                for signature, char in zip(glyphs, answer, strict=True):
                    self.known.setdefault(signature, Counter())[char] += 1

    def solve(self, page: str) -> str:
        return "".join(self.known[s].most_common(1)[0][0] if s in self.known else "?" for s in self.glyphs(page))


class ByteSolver:
    """Nearest neighbour on the embedded picture's byte histogram and length."""

    @staticmethod
    def features(page: str) -> list[float]:
        data = embedded_picture(page)
        counts = Counter(data)
        return [counts[b] / max(len(data), 1) for b in range(256)] + [len(data) / 10_000]

    def train(self, pages: list[tuple[str, str]]) -> None:
        self.known = [(self.features(page), answer) for page, answer in pages]

    def solve(self, page: str) -> str:
        mine = self.features(page)
        return min(self.known, key=lambda known: sum(abs(a - b) for a, b in zip(mine, known[0], strict=True)))[1]


class PixelSolver:
    """Nearest neighbour per character column on the decoded raster, downscaled to 8 x 14 grey levels."""

    @staticmethod
    def columns(page: str) -> list[list[int]] | None:
        data = embedded_picture(page)
        if not data.startswith(b"\x89PNG"):
            return None
        image = Image.open(io.BytesIO(data)).convert("L")
        step = image.width / captcha.CODE_LENGTH
        return [list(image.crop((round(i * step), 0, round((i + 1) * step), image.height)).resize((8, 14)).tobytes())
                for i in range(captcha.CODE_LENGTH)]

    def train(self, pages: list[tuple[str, str]]) -> None:
        self.known = [(columns, answer) for page, answer in pages if (columns := self.columns(page)) is not None]

    def solve(self, page: str) -> str:
        columns = self.columns(page)
        if columns is None or not self.known:
            return ""
        guess = []
        for position, column in enumerate(columns):
            nearest = min(self.known, key=lambda known: sum(
                abs(a - b) for a, b in zip(column, known[0][position], strict=True)))
            guess.append(nearest[1][position])
        return "".join(guess)


def accuracy(solver, training: list[tuple[str, str]], held_out: list[tuple[str, str]]) -> tuple[float, int]:
    """Share of characters read right, position by position, on pages the solver was not trained on,
    and how many whole answers it read."""
    solver.train(training)
    guesses = [(solver.solve(page), answer) for page, answer in held_out]
    right = sum(a == b for guess, answer in guesses for a, b in zip(guess, answer, strict=False))
    return right / (len(held_out) * captcha.CODE_LENGTH), sum(guess == answer for guess, answer in guesses)


# -- the tests -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("storage", ["sqlite"], indirect=True)  # pictures do not depend on the storage
def test_solvers_reading_the_page_bytes_do_no_better_than_chance(idp, monkeypatch):
    pages = pages_with_known_answers(idp, monkeypatch, PAGES)
    training, held_out = pages[: PAGES // 2], pages[PAGES // 2 :]
    scores = {type(solver).__name__: accuracy(solver, training, held_out)
              for solver in (MarkupSolver(), ByteSolver(), PixelSolver())}
    # 500 guesses at chance 1/28: about 18 right, standard deviation 4; three times chance is 53.
    # (The pixel solver reads about 5%: it does look at the picture, but not at anything that names a glyph.)
    assert all(share <= 3 * CHANCE and whole == 0 for share, whole in scores.values()), (scores, CHANCE)


def png_chunks(data: bytes) -> list[bytes]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        chunks.append(data[at + 4 : at + 8])
        at += 12 + length
    return chunks


@pytest.mark.parametrize("path", ["/register", "/password/reset", "/login?captcha=1"])
@pytest.mark.parametrize("storage", ["sqlite"], indirect=True)
def test_a_captcha_page_embeds_a_png_of_pixels_only_and_is_not_stored(idp, monkeypatch, path):
    (page, answer), (again, _) = pages_with_known_answers(idp, monkeypatch, 2, path)
    pictures = DATA_URI.findall(page)
    assert len(pictures) == 1 and 'id="captcha-image"' in page
    png = base64.b64decode(pictures[0])
    assert set(png_chunks(png)) == {b"IHDR", b"IDAT", b"IEND"}  # no text chunks, no metadata
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (220, 70)
    assert answer.encode() not in png and answer.lower().encode() not in png
    markup = DATA_URI.sub("", page)
    assert not re.search(r"<(svg|path|text|canvas)\b", markup)
    assert answer not in markup and answer not in field(page, "captcha_token").upper()
    assert DATA_URI.findall(again) != pictures  # every page a new picture
    response = idp.app.test_client().get(path)
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("storage", ["sqlite"], indirect=True)
def test_the_new_picture_link_gives_a_new_challenge_on_the_same_form(idp):
    web = idp.app.test_client()
    page = web.get("/register?return_to=/account").get_data(as_text=True)
    again = html.unescape(re.search(r'id="captcha-refresh" href="([^"]+)"', page).group(1))
    assert again == "/register?return_to=%2Faccount"
    fresh = web.get(again).get_data(as_text=True)
    assert field(fresh, "captcha_token") != field(page, "captcha_token")
    assert DATA_URI.findall(fresh) != DATA_URI.findall(page)
