"""Checks an uploaded file before it becomes a case document: type, size, photo quality, PDF pages, and
active content in PDFs (scripts, launch actions, embedded files) that staff are warned about.

Every function here is pure and CPU-bound: the service runs them in its worker pool (`dialogues.offload`).
Images are opened lazily and refused by their header's pixel count before anything is decoded (a small PNG
can decode to hundreds of megapixels), and decoded reduced (JPEG's DCT scaling, `reduce()` for others)
before the sharpness analysis.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from dialogues import offload
from dialogues.schema import DocumentRules

IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/heic")
ANALYSIS_WIDTH = 1024  # the sharpness is measured on a copy at most this wide
MAX_PDF_OBJECTS = 50_000  # a PDF with more objects is not scanned object by object (pages still counted)
# PDF action types that run something or reach outside the document
ACTIVE_ACTIONS = {"/JavaScript": "javascript", "/Launch": "launch", "/ImportData": "import_data",
                  "/SubmitForm": "submit_form", "/RichMediaExecute": "rich_media"}


@dataclass(frozen=True)
class Inspection:
    """Result of checking one file. `problem` is a response key when the file is refused."""

    ok: bool
    problem: str | None = None
    page_count: int = 1
    sharpness: float | None = None
    warnings: tuple[str, ...] = ()  # active content found in a PDF: javascript, launch, embedded_files, ...


def sharpness(img: Image.Image, grid: int = 6) -> float:
    """Largest variance of the Laplacian over a grid of tiles, on a grey copy at most 1024 px wide.

    Per tile, so a sharp but mostly blank page (one signature, two lines) still scores high, while a
    blurred photo scores low everywhere; plain sensor noise stays around 10-20.
    """
    gray = img.convert("L")
    if gray.width > ANALYSIS_WIDTH:
        gray = gray.resize((ANALYSIS_WIDTH, max(1, round(gray.height * ANALYSIS_WIDTH / gray.width))))
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


def to_jpeg(data: bytes, max_pixels: int | None = None) -> bytes:
    """Re-encode an image (e.g. HEIC) as JPEG so every browser can show it to staff."""
    _heif_ready()
    with _open_image(data, max_pixels or DocumentRules.model_fields["max_image_pixels"].default) as img:
        out = io.BytesIO()
        img.convert("RGB").save(out, "JPEG", quality=90)
        return out.getvalue()


class TooManyPixels(Exception):
    """The image header announces more pixels than allowed; nothing was decoded."""


def _open_image(data: bytes, max_pixels: int) -> Image.Image:
    """Open lazily (header only) and refuse before decoding when the image has more than `max_pixels`.
    Pillow's own bomb check only warns below twice its global limit; here a warning is an error too."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise TooManyPixels() from None
    width, height = img.size
    if width * height > max_pixels:
        img.close()
        raise TooManyPixels()
    return img


def _reduced(img: Image.Image) -> Image.Image:
    """A decoded copy about ANALYSIS_WIDTH wide: JPEG decodes straight at 1/2, 1/4 or 1/8 scale (draft);
    other formats decode in full (bounded by the pixel limit) and are shrunk by an integer factor."""
    if img.format == "JPEG":
        target = (ANALYSIS_WIDTH, max(1, img.height * ANALYSIS_WIDTH // max(1, img.width)))
        img.draft("RGB" if img.mode not in ("L", "1") else "L", target)
    img.load()
    factor = img.width // ANALYSIS_WIDTH
    if factor >= 2:
        if img.mode not in ("L", "RGB", "RGBA", "LA", "I", "F"):
            img = img.convert("RGBA" if "transparency" in img.info or img.mode in ("PA", "RGBa") else "RGB")
        img = img.reduce(factor)
    return img


async def inspect_offloaded(data: bytes, content_type: str, rules: DocumentRules, max_bytes: int) -> Inspection:
    """`inspect` in the worker pool; a file that takes too long to check, or kills its worker (memory), is
    refused as unreadable."""
    try:
        return await offload.run(inspect, data, content_type, rules, max_bytes)
    except offload.OffloadError:
        return Inspection(False, "doc_unreadable")


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
        with _open_image(data, rules.max_image_pixels) as img:
            width, height = img.size
            if min(width, height) < rules.min_image_height or max(width, height) < rules.min_image_width:
                return Inspection(False, "doc_too_small")
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                score = sharpness(_reduced(img))
    except TooManyPixels:
        return Inspection(False, "doc_too_many_pixels")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError,
            Image.DecompressionBombWarning, MemoryError):
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
        found = active_content(reader)
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, AttributeError, IndexError, RecursionError):
        return Inspection(False, "doc_unreadable")
    except Exception:  # noqa: BLE001 - pypdf raises assorted errors on damaged files; all mean "unreadable"
        return Inspection(False, "doc_unreadable")
    if pages < 1:
        return Inspection(False, "doc_unreadable")
    if pages > rules.max_pdf_pages:
        return Inspection(False, "doc_too_many_pages", page_count=pages)
    return Inspection(True, page_count=pages, warnings=found)


def active_content(reader: "PdfReader") -> tuple[str, ...]:  # type: ignore[name-defined]  # noqa: F821
    """What in a PDF can run or reach outside when a viewer opens it: JavaScript, launch/import/submit
    actions, an opening action other than "go to a page", automatic actions (/AA), embedded files, rich
    media, XFA forms. Every object is visited (also those inside compressed object streams), so names
    hidden by #-escapes or compression are found too. Sorted names, e.g. ("embedded_files", "javascript")."""
    from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

    found: set[str] = set()

    def look(obj: object, depth: int = 0) -> None:
        """Check one object and its direct (not indirect) children; indirect ones are visited on their own."""
        if depth > 32:
            return
        if isinstance(obj, ArrayObject):
            for item in obj:
                if not isinstance(item, IndirectObject):
                    look(item, depth + 1)
            return
        if not isinstance(obj, DictionaryObject):
            return
        keys = set(obj.keys())
        if "/JS" in keys or "/JavaScript" in keys:
            found.add("javascript")
        action = obj.get("/S")
        if action in ACTIVE_ACTIONS:
            found.add(ACTIVE_ACTIONS[str(action)])
        if "/OpenAction" in keys:
            opening = obj.get("/OpenAction")
            opening = opening.get_object() if isinstance(opening, IndirectObject) else opening
            if isinstance(opening, DictionaryObject) and opening.get("/S") not in ("/GoTo", None):
                found.add("open_action")
        if "/AA" in keys:
            found.add("automatic_action")
        if "/EmbeddedFiles" in keys or "/EF" in keys or obj.get("/Type") == "/EmbeddedFile" \
                or obj.get("/Subtype") == "/FileAttachment":
            found.add("embedded_files")
        if obj.get("/Subtype") in ("/RichMedia", "/Movie", "/Sound", "/Screen") or "/RichMediaContent" in keys:
            found.add("rich_media")
        if "/XFA" in keys:
            found.add("xfa")
        for key, value in obj.items():
            if key != "/Parent" and isinstance(value, (DictionaryObject, ArrayObject)):
                look(value, depth + 1)

    ids = [(num, gen) for gen, table in reader.xref.items() for num in table]
    ids += [(num, 0) for num in reader.xref_objStm]
    if len(ids) > MAX_PDF_OBJECTS:
        return ("too_many_objects",)
    for num, gen in ids:
        try:
            obj = reader.get_object(IndirectObject(num, gen, reader))
        except Exception:  # noqa: BLE001 - a damaged object is skipped; the structure was already read
            continue
        look(obj)
    return tuple(sorted(found))
