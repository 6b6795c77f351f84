"""The photo quality gate and PDF checks on realistic synthetic pages."""
import io

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from dialogues.documents import inspect
from dialogues.schema import DocumentRules
from tests.dialogues.conftest import make_pdf

RULES = DocumentRules(accepted_types=["image/jpeg", "image/png", "image/webp", "application/pdf"],
                      min_image_width=600, min_image_height=400, min_sharpness=50, max_pdf_pages=30,
                      form_labels={})
MB = 10 * 1024 * 1024


def page(lines: int, blur: float = 0, fmt: str = "JPEG") -> bytes:
    img = Image.new("RGB", (1600, 1200), (240, 238, 230))
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=22)
    for i in range(lines):
        draw.text((80, 60 + i * 36), "SURAT PERNYATAAN TANGGUNG JAWAB MUTLAK nomor 123/456", fill=(30, 30, 30),
                  font=font)
    if blur:
        img = img.filter(ImageFilter.GaussianBlur(blur))
    noisy = np.asarray(img).astype(float) + np.random.default_rng(0).normal(0, 3, (1200, 1600, 3))
    img = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
    buf = io.BytesIO()
    img.save(buf, fmt, quality=85) if fmt == "JPEG" else img.save(buf, fmt)
    return buf.getvalue()


def test_sharp_pages_pass_even_when_sparse() -> None:
    assert inspect(page(30), "image/jpeg", RULES, MB).ok
    assert inspect(page(2), "image/jpeg", RULES, MB).ok
    assert inspect(page(30, blur=1.5), "image/jpeg", RULES, MB).ok
    assert inspect(page(3, fmt="PNG"), "image/png", RULES, MB).ok
    assert inspect(page(3, fmt="WEBP"), "image/webp", RULES, MB).ok


def test_blurred_pages_are_refused() -> None:
    for blur in (3, 4, 8):
        result = inspect(page(30, blur=blur), "image/jpeg", RULES, MB)
        assert not result.ok and result.problem == "doc_blurry", blur


def test_blank_small_wrong_and_large() -> None:
    assert inspect(page(0), "image/jpeg", RULES, MB).problem == "doc_blurry"
    small = io.BytesIO()
    Image.new("RGB", (500, 300), "white").save(small, "PNG")
    assert inspect(small.getvalue(), "image/png", RULES, MB).problem == "doc_too_small"
    assert inspect(b"GIF89a....", "image/gif", RULES, MB).problem == "doc_bad_type"
    assert inspect(page(30), "image/jpeg", RULES, 1024).problem == "doc_too_large"
    assert inspect(b"\xff\xd8\xff garbage", "image/jpeg", RULES, MB).problem == "doc_unreadable"


def test_pdf_pages() -> None:
    result = inspect(make_pdf(3), "application/pdf", RULES, MB)
    assert result.ok and result.page_count == 3
    assert inspect(make_pdf(31), "application/pdf", RULES, MB).problem == "doc_too_many_pages"
    assert inspect(b"%PDF-1.4 broken", "application/pdf", RULES, MB).problem == "doc_unreadable"


def heic_page() -> bytes:
    import pillow_heif

    pillow_heif.register_heif_opener()
    img = Image.open(io.BytesIO(page(20)))
    buf = io.BytesIO()
    img.save(buf, format="HEIF", quality=90)
    return buf.getvalue()


def test_heic_is_checked_like_other_photos() -> None:
    rules = RULES.model_copy(update={"accepted_types": [*RULES.accepted_types, "image/heic"]})
    assert inspect(heic_page(), "image/heic", rules, MB).ok


async def test_heic_is_stored_as_jpeg(chat, db) -> None:
    from sqlalchemy import select

    from storage.models import CaseDocument
    from tests.dialogues.test_pembatalan import run_deceased_until_documents

    await run_deceased_until_documents(chat)
    out = await chat.say(files=[heic_page()])
    assert "Diterima" in out
    async with db.session() as s:
        doc = (await s.execute(select(CaseDocument))).scalar_one()
    assert doc.content_type == "image/jpeg"
    assert (await chat.store.read(doc.sha256))[:3] == b"\xff\xd8\xff"
