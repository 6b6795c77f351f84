"""Files for `file:` steps, generated on the fly so stories stay small text files.

A photo is a sharp, camera-sized JPEG of a printed page (lines of dark 'text' on off-white paper, a letterhead
bar and a stamp); a PDF is a real multi-page document made with reportlab; audio is a short mono WAV clip of
a spoken-like tone. Content depends on a seed, so two files in one story never share a hash by accident."""
from __future__ import annotations

import io
import math
import random
import struct
import wave
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFilter

KINDS = ("photo", "blurry_photo", "small_photo", "pdf", "audio", "unsupported")


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


def generate(kind: str, name: str | None, seed: int, pages: int = 2) -> GeneratedFile:
    """The file for one `file:` step; `name` defaults from the kind."""
    if kind in ("photo", "blurry_photo", "small_photo"):
        size = (320, 240) if kind == "small_photo" else (1280, 960)
        return GeneratedFile(name or "foto.jpg", "image/jpeg", photo(seed, size, blurred=kind == "blurry_photo"))
    if kind == "pdf":
        return GeneratedFile(name or "dokumen.pdf", "application/pdf", pdf(seed, pages))
    if kind == "audio":
        return GeneratedFile(name or "pesan_suara.wav", "audio/wav", audio(seed))
    if kind == "unsupported":
        return GeneratedFile(name or "catatan.docx", "application/octet-stream", b"PK\x03\x04" + bytes(200))
    raise ValueError(f"unknown file kind {kind!r} (one of {', '.join(KINDS)})")
