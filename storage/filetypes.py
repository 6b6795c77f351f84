"""Decides a file's type from its bytes (magic numbers, by the `filetype` library), never from its name.

Only the types the service handles are ever named; anything else is application/octet-stream, so a file is
never served or accepted under a type nobody checked. Two additions to the library: the HEIC and M4B brands it
does not know (phones' photos and audio books), and a PDF whose header comes after a few junk bytes (readers
accept it within the first 1 KiB).
"""
from __future__ import annotations

import filetype
from filetype.types import archive, audio, image, video
from filetype.types.base import Type

OCTET_STREAM = "application/octet-stream"


class _IsoBrands(Type):
    """An ISO base media file ('ftyp' box) of one of `brands`."""

    def __init__(self, mime: str, extension: str, brands: tuple[bytes, ...]) -> None:
        super().__init__(mime=mime, extension=extension)
        self.brands = brands

    def match(self, buf: bytes) -> bool:
        return len(buf) >= 12 and buf[4:8] == b"ftyp" and bytes(buf[8:12]) in self.brands


_MATCHERS = (
    image.Jpeg(), image.Png(), image.Gif(), image.Webp(), image.Heic(),
    _IsoBrands("image/heic", "heic", (b"heix", b"heim", b"heis", b"hevc", b"hevx")),
    audio.Ogg(),  # WhatsApp and Telegram voice notes (Opus in Ogg)
    audio.Amr(), audio.Mp3(), audio.Wav(), audio.M4a(), _IsoBrands("audio/mp4", "m4b", (b"M4B ",)),
    video.Webm(),  # a browser's MediaRecorder (web chat voice notes)
    archive.Pdf(),
)
# the library's name -> ours, where they differ
_NAMES = {"audio/x-wav": "audio/wav", "video/webm": "audio/webm"}


def sniff_content_type(data: bytes) -> str:
    """Return the MIME type recognised from the leading bytes, or application/octet-stream."""
    kind = filetype.match(bytes(data[:8192]), matchers=_MATCHERS)
    if kind is not None:
        return _NAMES.get(kind.mime, kind.mime)
    if b"%PDF-" in data[:1024]:
        return "application/pdf"
    return OCTET_STREAM
