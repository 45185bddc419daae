"""The stamp: the seal image as a PDF image XObject (compressed once per seal), widget and page drawing."""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter


@dataclass
class _ImageXObject:
    width: int
    height: int
    rgb: bytes
    alpha: bytes


def image_streams(png: bytes) -> _ImageXObject:
    """The seal PNG as flate-compressed RGB + alpha planes (made once per seal, reused)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGBA")
    rgb = image.convert("RGB").tobytes()
    alpha = image.getchannel("A").tobytes()
    return _ImageXObject(image.width, image.height, zlib.compress(rgb, 6), zlib.compress(alpha, 6))



def _image_ref(writer: IncrementalPdfFileWriter, image: _ImageXObject) -> generic.IndirectObject:
    smask = generic.StreamObject({
        pdf_name("/Type"): pdf_name("/XObject"), pdf_name("/Subtype"): pdf_name("/Image"),
        pdf_name("/Width"): generic.NumberObject(image.width), pdf_name("/Height"): generic.NumberObject(image.height),
        pdf_name("/ColorSpace"): pdf_name("/DeviceGray"), pdf_name("/BitsPerComponent"): generic.NumberObject(8),
        pdf_name("/Filter"): pdf_name("/FlateDecode"),
    }, encoded_data=image.alpha)
    main = generic.StreamObject({
        pdf_name("/Type"): pdf_name("/XObject"), pdf_name("/Subtype"): pdf_name("/Image"),
        pdf_name("/Width"): generic.NumberObject(image.width), pdf_name("/Height"): generic.NumberObject(image.height),
        pdf_name("/ColorSpace"): pdf_name("/DeviceRGB"), pdf_name("/BitsPerComponent"): generic.NumberObject(8),
        pdf_name("/Filter"): pdf_name("/FlateDecode"), pdf_name("/SMask"): writer.add_object(smask),
    }, encoded_data=image.rgb)
    return writer.add_object(main)


class _SealStamp:
    """The widget appearance: the seal image filling the annotation's box."""

    def __init__(self, writer, image_ref, width: float, height: float) -> None:
        self.writer, self.image_ref, self.width, self.height = writer, image_ref, width, height

    def apply_appearance(self, annot: generic.DictionaryObject) -> None:
        content = f"q {self.width:.3f} 0 0 {self.height:.3f} 0 0 cm /YtSeal Do Q".encode()
        form = generic.StreamObject({
            pdf_name("/Type"): pdf_name("/XObject"), pdf_name("/Subtype"): pdf_name("/Form"),
            pdf_name("/BBox"): generic.ArrayObject([generic.FloatObject(0), generic.FloatObject(0),
                                                    generic.FloatObject(self.width), generic.FloatObject(self.height)]),
            pdf_name("/Resources"): generic.DictionaryObject({
                pdf_name("/XObject"): generic.DictionaryObject({pdf_name("/YtSeal"): self.image_ref})}),
        }, stream_data=content)
        annot[pdf_name("/AP")] = generic.DictionaryObject({pdf_name("/N"): self.writer.add_object(form)})
        annot.pop(pdf_name("/AS"), None)


class _SealStampStyle:
    """Duck-typed pyhanko stamp style: ``create_stamp`` returns our image stamp."""

    def __init__(self, image_ref) -> None:
        self.image_ref = image_ref

    def create_stamp(self, writer, box, text_params):
        return _SealStamp(writer, self.image_ref, float(box.width), float(box.height))


def _draw_on_page(writer: IncrementalPdfFileWriter, page_ix: int, image_ref, content: bytes) -> None:
    """Append ``content`` to a page, isolated from whatever graphics state the page leaves behind."""
    page_ref, _ = writer.find_page_for_modification(page_ix)
    page = page_ref.get_object()
    if "/Contents" not in page:
        page[pdf_name("/Contents")] = generic.ArrayObject()
        writer.mark_update(page_ref)
    writer.add_stream_to_page(page_ix, writer.add_object(generic.StreamObject(stream_data=b"q\n")), prepend=True)
    resources = generic.DictionaryObject({
        pdf_name("/XObject"): generic.DictionaryObject({pdf_name("/YtSealImg"): image_ref})})
    stream = generic.StreamObject(stream_data=b"\nQ\n" + content + b"\n")
    writer.add_stream_to_page(page_ix, writer.add_object(stream), resources=resources)
