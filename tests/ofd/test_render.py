"""ofd.render: what a page image shows, pixel by pixel, for pages we make and seal and for the corpus."""

from __future__ import annotations

import io

import pytest
from PIL import Image as PilImage

from ofd.make import Image, Line, Page, Rect, Text, make_ofd
from ofd.render import OfdRenderError, render_page
from tests.ofd.support import OFD_FILES, corpus_ofd

SCALE = 4  # 840 px for 210 mm


def _png(color, size=(60, 40)) -> bytes:
    out = io.BytesIO()
    PilImage.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def _pixel(image, x_mm: float, y_mm: float):
    return image.getpixel((round(x_mm * SCALE), round(y_mm * SCALE)))


@pytest.fixture(scope="module")
def page_image():
    data = make_ofd([Page(210, 297, [
        Rect(10, 10, 190, 277, line_mm=1, color=(0, 0, 200)),
        Rect(20, 200, 30, 20, line_mm=0, fill=(0, 160, 0)),
        Line(20, 100, 190, 100, line_mm=1),
        Image(120, 200, 60, 40, _png((200, 30, 30))),
        Text(20, 40, "准予行政许可", size_mm=10),
    ])])
    return PilImage.open(io.BytesIO(render_page(data, 0, 210 * SCALE))).convert("RGB")


def test_the_page_image_has_the_page_size_and_shows_paths_images_and_text(page_image):
    assert page_image.size == (840, 1188)
    assert _pixel(page_image, 5, 5) == (255, 255, 255)
    assert _pixel(page_image, 10, 150) == (0, 0, 200)  # the blue frame's left edge
    assert _pixel(page_image, 35, 210) == (0, 160, 0)  # the filled green rectangle
    assert _pixel(page_image, 100, 100) == (0, 0, 0)  # the black rule
    assert _pixel(page_image, 150, 220) == (200, 30, 30)  # the image, scaled into its box
    text = page_image.crop((20 * SCALE, 40 * SCALE, 80 * SCALE, 50 * SCALE))
    dark = sum(count for count, pixel in text.getcolors(1 << 20) if sum(pixel) < 200)
    assert dark > 400  # six 10 mm characters are drawn, in the embedded font
    assert _pixel(page_image, 100, 45) == (255, 255, 255)  # and nothing past the text


@pytest.mark.parametrize("name", OFD_FILES)
def test_every_corpus_page_one_renders(name):
    png = render_page(corpus_ofd(name), 0, 400)
    image = PilImage.open(io.BytesIO(png))
    assert image.width == 400 and image.height > 100
    assert image.convert("L").getextrema()[0] < 128  # something dark is drawn: text, rules or a stamp


def test_out_of_range_pages_are_refused():
    with pytest.raises(OfdRenderError, match="out of range"):
        render_page(corpus_ofd("ofdrw-helloworld-unsigned.ofd"), 3)
