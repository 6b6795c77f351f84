"""Reads an identity-card photo with Tesseract (Debian's `tesseract-ocr` + `tesseract-ocr-ind`).

Pure and CPU-bound: the service runs `read_card` in its worker pool's background lane (`dialogues.offload`).
The photo is prepared before OCR: grey, the card area cropped, scaled so that text is ~30-40 px high, small tilts
straightened (projection-profile search), contrast stretched; when no valid NIK is found on that version a
binarised one (Otsu threshold) is tried. Tesseract reads the image from standard input and writes text to
standard output: no temporary file with a pilgrim's KTP ever touches the disk.
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, field

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from bot.docread.extract import find_niks, name_field

TESSERACT = "tesseract"
WORK_WIDTH = 1500  # pixels the card area is scaled to before OCR (tuned on bench seed 1000)
MAX_SKEW = 8.0  # degrees searched either way when straightening
MAX_TEXT_CHARS = 4000  # OCR text kept with the findings


class OcrUnavailable(Exception):
    """Tesseract or its Indonesian language data is not installed."""


@dataclass
class Reading:
    """What OCR found on one photo."""

    niks: list[str] = field(default_factory=list)
    name: str | None = None
    text: str = ""
    seconds: float = 0.0
    skew: float = 0.0
    passes: int = 0

    def as_json(self) -> dict[str, object]:
        return asdict(self)


def available(lang: str = "ind") -> bool:
    """Tesseract is installed and has the language data."""
    if shutil.which(TESSERACT) is None:
        return False
    try:
        out = subprocess.run([TESSERACT, "--list-langs"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return lang in out.stdout.split()


def read_card(data: bytes, lang: str = "ind", timeout: float = 20.0) -> Reading:
    """OCR of a KTP/KK photo: the valid NIKs found, the 'Nama' field and the text."""
    started = time.perf_counter()
    if data[:5] == b"%PDF-":
        data = _pdf_scan(data)
    with Image.open(io.BytesIO(data)) as img:
        img.draft("L", (WORK_WIDTH, WORK_WIDTH))  # JPEG: decode at a reduced scale when it is huge
        gray = ImageOps.exif_transpose(img).convert("L")
    gray = _card_area(gray)
    gray = _scaled(gray)
    skew = _skew_angle(gray)
    if abs(skew) >= 0.3:
        gray = gray.rotate(skew, resample=Image.BICUBIC, expand=True, fillcolor=255)
    prepared = ImageOps.autocontrast(gray, cutoff=1)
    reading = Reading(skew=round(skew, 1))
    for version in (prepared, _binarised(prepared)):
        text = _tesseract(version, lang, timeout)
        reading.passes += 1
        reading.text = (reading.text + "\n" + text).strip()[:MAX_TEXT_CHARS]
        reading.niks = find_niks(reading.text)
        reading.name = reading.name or name_field(text)
        if reading.niks and reading.name:
            break
    reading.seconds = round(time.perf_counter() - started, 3)
    return reading


def _pdf_scan(data: bytes) -> bytes:
    """The largest image on the first page of a scanned PDF (a KTP scanned to PDF is one picture)."""
    from pypdf import PdfReader

    pages = PdfReader(io.BytesIO(data)).pages
    images = list(pages[0].images) if len(pages) else []
    if not images:
        raise ValueError("no scanned image in the PDF")
    return max(images, key=lambda image: len(image.data)).data


def _card_area(gray: Image.Image) -> Image.Image:
    """The bright card cropped from a darker table (the whole photo when nothing stands out)."""
    small = gray.reduce(max(1, gray.width // 320))
    a = np.asarray(small, dtype=np.float32)
    threshold = _otsu(a)
    mask = a > threshold
    rows, cols = np.where(mask.mean(axis=1) > 0.3)[0], np.where(mask.mean(axis=0) > 0.3)[0]
    if rows.size < 5 or cols.size < 5:
        return gray
    f = gray.width / small.width
    box = (max(0, int((cols[0] - 3) * f)), max(0, int((rows[0] - 3) * f)),
           min(gray.width, int((cols[-1] + 4) * f)), min(gray.height, int((rows[-1] + 4) * f)))
    if (box[2] - box[0]) * (box[3] - box[1]) < 0.15 * gray.width * gray.height:
        return gray
    return gray.crop(box)


def _scaled(gray: Image.Image) -> Image.Image:
    factor = WORK_WIDTH / gray.width
    if 0.9 < factor < 1.1:
        return gray
    return gray.resize((WORK_WIDTH, max(1, round(gray.height * factor))), Image.LANCZOS)


def _skew_angle(gray: Image.Image) -> float:
    """The rotation (degrees) that makes text lines horizontal: the angle whose row profile of dark pixels
    is most peaked, searched coarse then fine on a small copy."""
    small = gray.reduce(4) if gray.width > 800 else gray
    ink = ImageOps.invert(small.filter(ImageFilter.MedianFilter(3)))
    a = np.asarray(ink, dtype=np.float32)
    ink = Image.fromarray(((a > _otsu(a)) * 255).astype(np.uint8))

    def score(angle: float) -> float:
        rows = np.asarray(ink.rotate(angle, resample=Image.NEAREST), dtype=np.float32).sum(axis=1)
        return float(np.square(np.diff(rows)).sum())

    best = max(np.arange(-MAX_SKEW, MAX_SKEW + 0.01, 1.0), key=score)
    return float(max(np.arange(best - 1.0, best + 1.01, 0.25), key=score))


def _otsu(a: np.ndarray) -> float:
    hist, edges = np.histogram(a, bins=256, range=(0, 256))
    weight = hist.cumsum()
    total = weight[-1]
    means = (hist * edges[:-1]).cumsum()
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (means[-1] * weight / total - means) ** 2 / (weight * (total - weight))
    if not np.isfinite(between).any():  # one flat grey: nothing to separate
        return float(a.mean())
    return float(edges[int(np.nanargmax(np.where(np.isfinite(between), between, -1)))])


def _binarised(gray: Image.Image) -> Image.Image:
    a = np.asarray(gray.filter(ImageFilter.MedianFilter(3)), dtype=np.float32)
    return Image.fromarray(((a > _otsu(a)) * 255).astype(np.uint8))


def _tesseract(image: Image.Image, lang: str, timeout: float) -> str:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}  # one core per page: the pool already uses every core
    try:
        done = subprocess.run([TESSERACT, "stdin", "stdout", "-l", lang, "--psm", "6"], input=buffer.getvalue(),
                              capture_output=True, timeout=timeout, env=env, check=False)
    except FileNotFoundError:
        raise OcrUnavailable(TESSERACT) from None
    if done.returncode != 0:
        error = done.stderr.decode("utf-8", "replace")
        if "Failed loading language" in error or "Error opening data file" in error:
            raise OcrUnavailable(f"language {lang}")
        raise RuntimeError(f"tesseract exited {done.returncode}")
    return done.stdout.decode("utf-8", "replace")
