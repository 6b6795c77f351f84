"""Decides a file's type from its bytes (magic numbers), never from its name."""
from __future__ import annotations

OCTET_STREAM = "application/octet-stream"

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"%PDF-", "application/pdf"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"OggS", "audio/ogg"),  # WhatsApp and Telegram voice notes (Opus in Ogg)
    (b"#!AMR", "audio/amr"),
    (b"ID3", "audio/mpeg"),
    (b"\x1aE\xdf\xa3", "audio/webm"),  # a browser's MediaRecorder (web chat)
)


def sniff_content_type(data: bytes) -> str:
    """Return the MIME type recognised from the leading bytes, or application/octet-stream."""
    head = data[:64]
    for magic, mime in _SIGNATURES:
        if head.startswith(magic):
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[4:8] == b"ftyp" and head[8:11] in (b"M4A", b"M4B"):
        return "audio/mp4"
    if head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):  # MPEG audio frame without an ID3 tag
        return "audio/mpeg"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"heim", b"heis"):
        return "image/heic"
    # A PDF may start after a few junk bytes; readers accept the header within the first 1 KiB.
    if b"%PDF-" in data[:1024]:
        return "application/pdf"
    return OCTET_STREAM
