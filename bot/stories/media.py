"""Files for `file:` steps, generated on the fly so stories stay small text files.

A photo is a sharp, camera-sized JPEG of a printed page (lines of dark 'text' on off-white paper, a letterhead
bar and a stamp); a PDF is a real multi-page document made with reportlab; audio is a short mono WAV clip of
a spoken-like tone; a voice note is an Ogg Opus file as WhatsApp and Telegram send them; a sticker is a
512x512 WebP. Content depends on a seed, so two files in one story never share a hash by accident."""
from __future__ import annotations

import io
import math
import random
import struct
import wave
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFilter

KINDS = ("photo", "blurry_photo", "small_photo", "pdf", "audio", "voice", "sticker", "unsupported")


@dataclass(frozen=True)
class GeneratedFile:
    filename: str
    content_type: str  # what the platform would claim
    data: bytes


def photo(seed: int, size: tuple[int, int] = (1280, 960), blurred: bool = False) -> bytes:
    """A phone photo of a typed document: sharp unless `blurred`."""
    rng = random.Random(seed)
    width, height = size
    image = Image.new("RGB", size, (236, 232, 222))
    draw = ImageDraw.Draw(image)
    draw.rectangle([40, 30, width - 40, 90], fill=(30, 90, 60))  # letterhead
    y = 130
    while y < height - 80:
        x = 60
        while x < width - 120:
            word = rng.randint(20, 90)
            draw.rectangle([x, y, min(x + word, width - 60), y + rng.randint(8, 12)], fill=(25, 25, 30))
            x += word + rng.randint(10, 18)
        y += rng.randint(24, 34)
    cx, cy = width - 260, height - 220
    draw.ellipse([cx, cy, cx + 150, cy + 150], outline=(40, 60, 160), width=6)  # stamp
    if blurred:
        image = image.filter(ImageFilter.GaussianBlur(14))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88)
    return out.getvalue()


def pdf(seed: int, pages: int = 2, title: str = "Surat Permohonan") -> bytes:
    """A small valid PDF with text on every page."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    doc = canvas.Canvas(out, pagesize=A4)
    doc.setTitle(title)
    for number in range(1, pages + 1):
        doc.setFont("Helvetica-Bold", 14)
        doc.drawString(72, 780, title)
        doc.setFont("Helvetica", 11)
        for line in range(24):
            doc.drawString(72, 740 - line * 18, f"Baris {line + 1} halaman {number} (dokumen {seed})")
        doc.showPage()
    doc.save()
    return out.getvalue()


def audio(seed: int, seconds: float = 2.0, rate: int = 16000) -> bytes:
    """A short mono 16-bit WAV clip whose pitch wanders like speech."""
    rng = random.Random(seed)
    base = rng.uniform(140, 220)
    frames = bytearray()
    for i in range(int(seconds * rate)):
        t = i / rate
        pitch = base * (1 + 0.15 * math.sin(2 * math.pi * 3 * t))
        envelope = 0.5 + 0.5 * math.sin(2 * math.pi * 4 * t) ** 2
        frames += struct.pack("<h", int(9000 * envelope * math.sin(2 * math.pi * pitch * t)))
    out = io.BytesIO()
    with wave.open(out, "wb") as clip:
        clip.setnchannels(1)
        clip.setsampwidth(2)
        clip.setframerate(rate)
        clip.writeframes(bytes(frames))
    return out.getvalue()


def _ogg_crc(data: bytes) -> int:
    """The CRC-32 of Ogg pages (polynomial 0x04C11DB7, not reflected, initial value 0)."""
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else (crc << 1)
            crc &= 0xFFFFFFFF
    return crc


def _ogg_page(packets: list[bytes], serial: int, sequence: int, granule: int, flags: int) -> bytes:
    lacing = bytearray()
    for packet in packets:
        lacing += bytes([255] * (len(packet) // 255) + [len(packet) % 255])
    header = struct.pack("<4sBBqIIIB", b"OggS", 0, flags, granule, serial, sequence, 0, len(lacing)) + bytes(lacing)
    page = header + b"".join(packets)
    return page[:22] + struct.pack("<I", _ogg_crc(page)) + page[26:]


def voice(seed: int, seconds: float = 3.0) -> bytes:
    """An Ogg Opus voice note (mono, 48 kHz) of 20 ms frames, like a WhatsApp or Telegram voice message.
    The frames are Opus comfort-noise frames: a valid stream any player opens; no encoder is needed."""
    serial = 0x5EED0000 + seed
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, 312, 48000, 0, 0)
    tags = b"OpusTags" + struct.pack("<I", 6) + b"hajibo" + struct.pack("<I", 0)
    pages = [_ogg_page([head], serial, 0, 0, 0x02), _ogg_page([tags], serial, 1, 0, 0)]
    frames = int(seconds * 50)
    frame = bytes([0xF8, 0xFF, 0xFE])  # config 31 (CELT FB 20 ms), mono, one frame: silence
    sequence, granule = 2, 312
    for start in range(0, frames, 50):  # one page per second
        count = min(50, frames - start)
        granule += 960 * count
        last = start + count >= frames
        pages.append(_ogg_page([frame] * count, serial, sequence, granule, 0x04 if last else 0))
        sequence += 1
    return b"".join(pages)


def sticker(seed: int) -> bytes:
    """A 512x512 WebP sticker: a coloured face on a transparent background."""
    rng = random.Random(seed)
    image = Image.new("RGBA", (512, 512), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    colour = (rng.randint(150, 255), rng.randint(120, 220), rng.randint(0, 90), 255)
    draw.ellipse([56, 56, 456, 456], fill=colour, outline=(60, 40, 0, 255), width=10)
    draw.ellipse([170, 180, 210, 240], fill=(40, 30, 0, 255))
    draw.ellipse([302, 180, 342, 240], fill=(40, 30, 0, 255))
    draw.arc([160, 220, 352, 380], 20, 160, fill=(40, 30, 0, 255), width=12)
    out = io.BytesIO()
    image.save(out, "WEBP")
    return out.getvalue()


def generate(kind: str, name: str | None, seed: int, pages: int = 2) -> GeneratedFile:
    """The file for one `file:` step; `name` defaults from the kind."""
    if kind in ("photo", "blurry_photo", "small_photo"):
        size = (320, 240) if kind == "small_photo" else (1280, 960)
        return GeneratedFile(name or "foto.jpg", "image/jpeg", photo(seed, size, blurred=kind == "blurry_photo"))
    if kind == "pdf":
        return GeneratedFile(name or "dokumen.pdf", "application/pdf", pdf(seed, pages))
    if kind == "audio":
        return GeneratedFile(name or "pesan_suara.wav", "audio/wav", audio(seed))
    if kind == "voice":
        return GeneratedFile(name or "PTT-20261124-WA0001.opus", "audio/ogg; codecs=opus", voice(seed))
    if kind == "sticker":
        return GeneratedFile(name or "sticker.webp", "image/webp", sticker(seed))
    if kind == "unsupported":
        return GeneratedFile(name or "catatan.docx", "application/octet-stream", b"PK\x03\x04" + bytes(200))
    raise ValueError(f"unknown file kind {kind!r} (one of {', '.join(KINDS)})")
