"""Hostile inputs shared by the security tests and bench/abuse.py, generated (nothing downloaded)."""
from __future__ import annotations

import io
import zlib


def bomb_png(side: int = 20_000) -> bytes:
    """A single-colour greyscale PNG of side x side pixels written by hand: ~50 KB for 400 M pixels
    (Pillow would need the whole image in memory to write it)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    header = side.to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])  # 8-bit grey, no interlace
    rows = (b"\x00" + b"\xff" * side) * 100
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(rows) for _ in range(side // 100)) + compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def javascript_pdf(pages: int = 1, launch: bool = False, embedded: bool = False, escaped_names: bool = False) -> bytes:
    """A PDF that runs JavaScript when opened (/OpenAction), optionally also with a /Launch action on a
    page and an embedded file; with `escaped_names` the names are written with #-escapes (/J#61vaScript),
    as malicious files do to dodge byte scanners."""
    from pypdf import PdfWriter
    from pypdf.generic import DictionaryObject, NameObject, TextStringObject

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(595, 842)
    action = DictionaryObject({NameObject("/S"): NameObject("/JavaScript"),
                               NameObject("/JS"): TextStringObject("app.alert('hajibot');")})
    writer._root_object[NameObject("/OpenAction")] = writer._add_object(action)
    if launch:
        page = writer.pages[0]
        page[NameObject("/AA")] = DictionaryObject({NameObject("/O"): DictionaryObject({
            NameObject("/S"): NameObject("/Launch"), NameObject("/F"): TextStringObject("cmd.exe")})})
    if embedded:
        writer.add_attachment("readme.txt", b"hello")
    out = io.BytesIO()
    writer.write(out)
    data = out.getvalue()
    if escaped_names:  # the offsets in the cross-reference table shift: readers rebuild it, as pypdf does
        data = data.replace(b"/JavaScript", b"/J#61vaScript").replace(b"/OpenAction", b"/Op#65nAction")
    return data


def plain_pdf(pages: int = 1) -> bytes:
    """An ordinary scanned-document-like PDF: pages, an opening view (GoTo), no scripts."""
    from pypdf import PdfWriter
    from pypdf.generic import ArrayObject, NameObject

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(595, 842)
    writer._root_object[NameObject("/OpenAction")] = ArrayObject([writer.pages[0].indirect_reference,
                                                                  NameObject("/Fit")])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
