"""Checks an uploaded file before it becomes a case document: type, size, photo quality, PDF pages."""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from dialogues.schema import DocumentRules

IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/heic")


@dataclass(frozen=True)
class Inspection:
    """Result of checking one file. `problem` is a response key when the file is refused."""

    ok: bool
    problem: str | None = None
    page_count: int = 1
    sharpness: float | None = None


def sharpness(img: Image.Image, grid: int = 6) -> float:
    """Largest variance of the Laplacian over a grid of tiles, on a grey copy at most 1024 px wide.

    Per tile, so a sharp but mostly blank page (one signature, two lines) still scores high, while a
    blurred photo scores low everywhere; plain sensor noise stays around 10-20.
    """
    gray = img.convert("L")
    if gray.width > 1024:
        gray = gray.resize((1024, max(1, round(gray.height * 1024 / gray.width))))
    a = np.asarray(gray, dtype=np.int16)
    if a.shape[0] < 3 or a.shape[1] < 3:
        return 0.0
    # integer Laplacian (|value| <= 1020 fits int16), then float64: the same numbers as computing it in
    # float64, where every intermediate is a small integer and exact, at a fraction of the memory traffic
    lap = (a[:-2, 1:-1] + a[2:, 1:-1] + a[1:-1, :-2] + a[1:-1, 2:] - 4 * a[1:-1, 1:-1]).astype(np.float64)
    h, w = lap.shape
    tiles = [lap[i * h // grid:(i + 1) * h // grid, j * w // grid:(j + 1) * w // grid]
             for i in range(grid) for j in range(grid)]
    return float(max(t.var() for t in tiles if t.size))


def _heif_ready() -> bool:
    """Teach Pillow to open HEIC/HEIF (iPhone photos) when pillow-heif is installed."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return False
    register_heif_opener()
    return True


def to_jpeg(data: bytes) -> bytes:
    """Re-encode an image (e.g. HEIC) as JPEG so every browser can show it to staff."""
    _heif_ready()
    with Image.open(io.BytesIO(data)) as img:
        out = io.BytesIO()
        img.convert("RGB").save(out, "JPEG", quality=90)
        return out.getvalue()


def inspect(data: bytes, content_type: str, rules: DocumentRules, max_bytes: int) -> Inspection:
    """Decide whether a file is acceptable as a scan or photo of a document."""
    if not data:
        return Inspection(False, "doc_empty")
    if content_type not in rules.accepted_types:
        return Inspection(False, "doc_bad_type")
    if len(data) > max_bytes:
        return Inspection(False, "doc_too_large")
    if content_type == "application/pdf":
        return _inspect_pdf(data, rules)
    if content_type == "image/heic" and not _heif_ready():
        return Inspection(False, "doc_bad_type")
    return _inspect_image(data, rules)


def _inspect_image(data: bytes, rules: DocumentRules) -> Inspection:
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            width, height = img.size
            if min(width, height) < rules.min_image_height or max(width, height) < rules.min_image_width:
                return Inspection(False, "doc_too_small")
            score = sharpness(img)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return Inspection(False, "doc_unreadable")
    if score < rules.min_sharpness:
        return Inspection(False, "doc_blurry", sharpness=score)
    return Inspection(True, page_count=1, sharpness=score)


def _inspect_pdf(data: bytes, rules: DocumentRules) -> Inspection:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            return Inspection(False, "doc_pdf_locked")
        pages = len(reader.pages)
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, AttributeError, IndexError):
        return Inspection(False, "doc_unreadable")
    except Exception:  # pypdf raises assorted errors on damaged files
        return Inspection(False, "doc_unreadable")
    if pages < 1:
        return Inspection(False, "doc_unreadable")
    if pages > rules.max_pdf_pages:
        return Inspection(False, "doc_too_many_pages", page_count=pages)
    return Inspection(True, page_count=pages)
