"""KTP-like identity-card photos for the OCR tests and benchmark (`bench/ocr.py`), generated from a seed.

The card follows the layout of an Indonesian e-KTP: PROVINSI and KABUPATEN/KOTA centred on top, then
'NIK : 16 digits' in a larger type and the labelled fields (Nama, Tempat/Tgl Lahir, Jenis Kelamin, Alamat,
RT/RW, Kel/Desa, Kecamatan, Agama, Status Perkawinan, Pekerjaan, Kewarganegaraan, Berlaku Hingga), a pass
photo on the right, on the card's light-blue guilloche background. The card is photographed on a table:
`sharp`, `tilted` (a few degrees), `low_light` (dark, noisy, slightly soft) or `jpeg` (heavily compressed).
Only fonts that ship with Debian (DejaVu) are used; people are fictitious."""
from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

VARIANTS = ("sharp", "tilted", "low_light", "jpeg")
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FIRST = ["SITI", "AHMAD", "NURUL", "MUHAMMAD", "RAHMAT", "DEWI", "YULIANTI", "HENDRA", "FITRI", "BUDI",
         "ZULKIFLI", "ROSMANIAR", "SYAFRUDDIN", "ELI", "ANDRI", "HASNAH", "IRWAN", "NOVI", "YUSUF", "ASMAH"]
LAST = ["AMINAH", "HIDAYAT", "SYAHPUTRA", "RAHMAWATI", "HASIBUAN", "SUTAN MUDO", "DATUAK", "PUTRI", "AZWAR",
        "NASUTION", "CHANIAGO", "PILIANG", "TANJUNG", "SIKUMBANG", "KOTO", "JAMBAK", "MELAYU", "SAID", "ZAINAL"]
PLACES = ["BUKITTINGGI", "AGAM", "PADANG", "PAYAKUMBUH", "SOLOK", "PARIAMAN", "BATUSANGKAR", "MEDAN"]
KECAMATAN = [("01", "GUGUK PANJANG"), ("02", "MANDIANGIN KOTO SELAYAN"), ("03", "AUR BIRUGO TIGO BALEH")]
JOBS = ["WIRASWASTA", "PEGAWAI NEGERI SIPIL", "MENGURUS RUMAH TANGGA", "PETANI/PEKEBUN", "PENSIUNAN", "PEDAGANG"]
STREETS = ["JL. SUDIRMAN", "JL. PANORAMA", "JL. A. YANI", "JL. SOEKARNO HATTA", "JL. HAJI MISKIN", "JL. PEMUDA"]


@dataclass(frozen=True)
class Card:
    """What is printed on a generated card."""

    nik: str
    nama: str
    tempat: str
    lahir: str  # DD-MM-YYYY
    perempuan: bool


def _font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    return ImageFont.truetype(str(FONT_DIR / name), size)


def random_card(rng: random.Random) -> Card:
    """A fictitious resident of Kota Bukittinggi with a NIK that follows the NIK rule (1375 + DDMMYY)."""
    perempuan = rng.random() < 0.5
    year, month, day = rng.randint(1940, 1995), rng.randint(1, 12), rng.randint(1, 28)
    kec = rng.choice(KECAMATAN)[0]
    nik = f"1375{kec}{day + (40 if perempuan else 0):02d}{month:02d}{year % 100:02d}{rng.randint(1, 9999):04d}"
    nama = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    return Card(nik, nama, rng.choice(PLACES), f"{day:02d}-{month:02d}-{year}", perempuan)


def card_image(card: Card, rng: random.Random, width: int = 1010) -> Image.Image:
    """The card itself, flat, `width` pixels wide (85.6 x 54 mm)."""
    height = round(width * 54 / 85.6)
    image = Image.new("RGB", (width, height), (196, 222, 240))
    draw = ImageDraw.Draw(image)
    for i in range(0, width, 6):  # faint guilloche waves
        y = height / 2 + math.sin(i / 37) * height / 3
        draw.point((i, y), fill=(170, 200, 228))
    s = width / 1010
    centre = width * 0.42
    for text, y, size in (("PROVINSI SUMATERA BARAT", 18, 30), ("KOTA BUKITTINGGI", 56, 30)):
        font = _font(round(size * s), bold=True)
        draw.text((centre, y * s), text, font=font, fill=(20, 20, 20), anchor="mt")
    draw.text((30 * s, 108 * s), "NIK", font=_font(round(32 * s), True), fill=(10, 10, 10))
    draw.text((160 * s, 108 * s), ":", font=_font(round(32 * s), True), fill=(10, 10, 10))
    draw.text((185 * s, 106 * s), card.nik, font=_font(round(36 * s), True), fill=(10, 10, 10))
    kec = rng.choice(KECAMATAN)[1]
    fields = [("Nama", card.nama), ("Tempat/Tgl Lahir", f"{card.tempat}, {card.lahir}"),
              ("Jenis Kelamin", ("PEREMPUAN" if card.perempuan else "LAKI-LAKI") + "     Gol. Darah : -"),
              ("Alamat", f"{rng.choice(STREETS)} NO. {rng.randint(1, 120)}"),
              ("RT/RW", f"{rng.randint(1, 9):03d}/{rng.randint(1, 9):03d}"), ("Kel/Desa", "BENTENG PASAR ATAS"),
              ("Kecamatan", kec), ("Agama", "ISLAM"),
              ("Status Perkawinan", rng.choice(["KAWIN", "BELUM KAWIN", "CERAI MATI"])),
              ("Pekerjaan", rng.choice(JOBS)), ("Kewarganegaraan", "WNI"), ("Berlaku Hingga", "SEUMUR HIDUP")]
    font = _font(round(21 * s))
    y = 160 * s
    for label, value in fields:
        draw.text((30 * s, y), label, font=font, fill=(25, 25, 25))
        draw.text((250 * s, y), ":", font=font, fill=(25, 25, 25))
        draw.text((268 * s, y), value, font=font, fill=(25, 25, 25))
        y += 30 * s
    px, py = width - 250 * s, 120 * s  # pass photo: red background, a head and shoulders
    draw.rectangle([px, py, px + 200 * s, py + 250 * s], fill=(200, 40, 40))
    draw.ellipse([px + 55 * s, py + 40 * s, px + 145 * s, py + 150 * s], fill=(210, 170, 130))
    draw.rectangle([px + 30 * s, py + 160 * s, px + 170 * s, py + 250 * s], fill=(40, 40, 60))
    draw.text((px + 100 * s, py + 265 * s), "BUKITTINGGI", font=_font(round(16 * s)), fill=(25, 25, 25), anchor="mt")
    draw.text((px + 100 * s, py + 288 * s), f"{rng.randint(1, 28):02d}-{rng.randint(1, 12):02d}-2019",
              font=_font(round(16 * s)), fill=(25, 25, 25), anchor="mt")
    draw.line([px + 40 * s, py + 330 * s, px + 160 * s, py + 318 * s], fill=(30, 30, 80), width=2)  # signature
    return image


def photo_of(card: Card, variant: str, rng: random.Random) -> bytes:
    """A phone photo (JPEG) of the card on a table, as a pilgrim would send it."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}")
    flat = card_image(card, rng, width=rng.randint(900, 1100))
    canvas = Image.new("RGB", (1280, 960), tuple(rng.randint(90, 140) for _ in range(3)))  # type: ignore[arg-type]
    card_layer = flat
    if variant == "tilted":
        angle = rng.choice([-1, 1]) * rng.uniform(2.0, 6.0)
        card_layer = flat.rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=canvas.getpixel((0, 0)))
    x = (canvas.width - card_layer.width) // 2 + rng.randint(-20, 20)
    y = (canvas.height - card_layer.height) // 2 + rng.randint(-20, 20)
    canvas.paste(card_layer, (max(0, x), max(0, y)))
    canvas = canvas.filter(ImageFilter.GaussianBlur(0.6))  # a phone camera is never perfectly crisp
    quality = 90
    if variant == "low_light":
        canvas = _low_light(canvas, rng)
    if variant == "jpeg":
        canvas = canvas.resize((960, 720), Image.BILINEAR)
        quality = rng.randint(22, 32)
    out = io.BytesIO()
    canvas.save(out, "JPEG", quality=quality)
    return out.getvalue()


def _low_light(image: Image.Image, rng: random.Random) -> Image.Image:
    """Dim, with sensor noise and a little softness: a card photographed indoors in the evening."""
    import numpy as np

    a = np.asarray(image, dtype=np.float32) * rng.uniform(0.30, 0.45)
    noise = np.random.default_rng(rng.randint(0, 2**31)).normal(0, rng.uniform(6, 10), a.shape)
    a = np.clip(a + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(a).filter(ImageFilter.GaussianBlur(0.8))


def sample(seed: int, variant: str) -> tuple[Card, bytes]:
    """One card and its photo for `seed` (the same seed always gives the same bytes)."""
    rng = random.Random(f"{seed}:{variant}")
    card = random_card(rng)
    return card, photo_of(card, variant, rng)
