"""A file's type comes from its bytes (storage/filetypes.py); only the types the service handles are named."""
import io

import pytest
from PIL import Image

from storage.filetypes import OCTET_STREAM, sniff_content_type

PAD = b"\0" * 200


def _image(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(out, fmt)
    return out.getvalue()


@pytest.mark.parametrize("data,mime", [
    (_image("JPEG"), "image/jpeg"), (_image("PNG"), "image/png"), (_image("GIF"), "image/gif"),
    (_image("WEBP"), "image/webp"), (b"GIF87a" + PAD, "image/gif"),
    (b"%PDF-1.4\n" + PAD, "application/pdf"), (b"\r\n  junk%PDF-1.4\n" + PAD, "application/pdf"),
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + PAD, "image/heic"),
    (b"\x00\x00\x00\x18ftypheix\x00\x00\x00\x00mif1heic" + PAD, "image/heic"),
    (b"OggS\x00\x02" + PAD, "audio/ogg"), (b"#!AMR\n" + PAD, "audio/amr"), (b"ID3\x03\x00" + PAD, "audio/mpeg"),
    (b"\xff\xfb\x90\x00" + PAD, "audio/mpeg"), (b"RIFF\x00\x00\x00\x00WAVEfmt " + PAD, "audio/wav"),
    (b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00" + PAD, "audio/mp4"),
    (b"\x00\x00\x00\x20ftypM4B \x00\x00\x00\x00" + PAD, "audio/mp4"),
    (b"\x1aE\xdf\xa3\x9fB\x86\x81\x01B\xf7\x81\x01B\xf2\x81\x04B\xf3\x81\x08B\x82\x84webmB\x87" + PAD, "audio/webm"),
])
def test_handled_types_are_recognised(data: bytes, mime: str) -> None:
    assert sniff_content_type(data) == mime


@pytest.mark.parametrize("data", [
    b"hello world" + PAD, b"<html><script>alert(1)</script></html>", b"PK\x03\x04" + PAD,  # zip / docx
    b"MZ\x90\x00" + PAD,  # a Windows program
    b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2" + PAD,  # a video
    b"", b"\xff",
])
def test_anything_else_is_octet_stream(data: bytes) -> None:
    """A type nobody checked is never named: it cannot be accepted as a document or served as such."""
    assert sniff_content_type(data) == OCTET_STREAM


def test_the_type_never_comes_from_a_name() -> None:
    assert sniff_content_type(b"foto.jpg") == OCTET_STREAM
