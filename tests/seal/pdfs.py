"""Test PDFs made here: pages with Latin and Chinese text (Adobe-GB1 STSong-Light, not embedded)."""

from __future__ import annotations

import io

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.writer import PdfFileWriter

A4 = (595, 842)


def _fonts(writer: PdfFileWriter) -> generic.DictionaryObject:
    latin = writer.add_object(generic.DictionaryObject({
        pdf_name("/Type"): pdf_name("/Font"), pdf_name("/Subtype"): pdf_name("/Type1"),
        pdf_name("/BaseFont"): pdf_name("/Helvetica")}))
    descendant = generic.DictionaryObject({
        pdf_name("/Type"): pdf_name("/Font"), pdf_name("/Subtype"): pdf_name("/CIDFontType0"),
        pdf_name("/BaseFont"): pdf_name("/STSong-Light"),
        pdf_name("/CIDSystemInfo"): generic.DictionaryObject({
            pdf_name("/Registry"): generic.TextStringObject("Adobe"),
            pdf_name("/Ordering"): generic.TextStringObject("GB1"),
            pdf_name("/Supplement"): generic.NumberObject(4)}),
        pdf_name("/FontDescriptor"): writer.add_object(generic.DictionaryObject({
            pdf_name("/Type"): pdf_name("/FontDescriptor"), pdf_name("/FontName"): pdf_name("/STSong-Light"),
            pdf_name("/Flags"): generic.NumberObject(6), pdf_name("/ItalicAngle"): generic.NumberObject(0),
            pdf_name("/Ascent"): generic.NumberObject(880), pdf_name("/Descent"): generic.NumberObject(-120),
            pdf_name("/CapHeight"): generic.NumberObject(880), pdf_name("/StemV"): generic.NumberObject(93),
            pdf_name("/FontBBox"): generic.ArrayObject([generic.NumberObject(v) for v in (-25, -254, 1000, 880)]),
        })),
        pdf_name("/DW"): generic.NumberObject(1000),
    })
    cjk = writer.add_object(generic.DictionaryObject({
        pdf_name("/Type"): pdf_name("/Font"), pdf_name("/Subtype"): pdf_name("/Type0"),
        pdf_name("/BaseFont"): pdf_name("/STSong-Light-UniGB-UCS2-H"),
        pdf_name("/Encoding"): pdf_name("/UniGB-UCS2-H"),
        pdf_name("/DescendantFonts"): generic.ArrayObject([writer.add_object(descendant)])}))
    return generic.DictionaryObject({pdf_name("/F1"): latin, pdf_name("/F2"): cjk})


def cjk(text: str) -> str:
    return "<" + text.encode("utf-16-be").hex() + ">"


def make_pdf(pages: int = 1, *, keyword_page: int | None = None, keyword: str = "（盖章）",
             keyword_at: tuple[float, float] = (400, 200), tag: str = "", rotate: int = 0) -> bytes:
    """A PDF of A4 pages with a title; ``keyword`` written on ``keyword_page`` (1-based) at ``keyword_at``."""
    writer = PdfFileWriter()
    fonts = _fonts(writer)
    for number in range(1, pages + 1):
        ops = [f"BT /F1 14 Tf 72 770 Td (Yitong test document {tag} page {number}) Tj ET",
               f"BT /F2 16 Tf 72 740 Td {cjk('行政许可决定书')} Tj ET"]
        if keyword_page == number:
            ops.append(f"BT /F2 14 Tf {keyword_at[0]} {keyword_at[1]} Td {cjk(keyword)} Tj ET")
        content = writer.add_object(generic.StreamObject(stream_data="\n".join(ops).encode()))
        page = generic.DictionaryObject({
            pdf_name("/Type"): pdf_name("/Page"),
            pdf_name("/MediaBox"): generic.ArrayObject([generic.NumberObject(v) for v in (0, 0, *A4)]),
            pdf_name("/Resources"): generic.DictionaryObject({pdf_name("/Font"): fonts}),
            pdf_name("/Contents"): content,
        })
        if rotate:
            page[pdf_name("/Rotate")] = generic.NumberObject(rotate)
        writer.insert_page(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
