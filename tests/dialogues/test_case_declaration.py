"""Flows declare what they hand to a case (`case:` in the flow YAML); create_case reads only that declaration."""
import re
import shutil
from pathlib import Path

from sqlalchemy import select

from dialogues.engine import DialogueEngine
from dialogues.settings import DialogueSettings
from storage.files import FileStore
from storage.models import Case
from tests.dialogues.conftest import OFFICE, ROOT, Chat, make_photo
from tests.dialogues.test_pelimpahan import TRANSFER


def renamed_copy(tmp_path: Path) -> Path:
    """The shipped files, with pelimpahan's porsi, reason and recipient-name slots renamed everywhere they occur."""
    for part in ("flows", "responses", "rules"):
        shutil.copytree(ROOT / "dialogues" / part, tmp_path / "dialogues" / part)
    flow = tmp_path / "dialogues/flows/pelimpahan.yml"
    text = flow.read_text(encoding="utf-8")
    text = re.sub(r"\breason\b", "alasan", text)
    text = re.sub(r"\brecipient_name\b", "nama_penerima", text)
    text = text.replace("slot: porsi", "slot: nomor_jemaah").replace("nomor_porsi: porsi", "nomor_porsi: nomor_jemaah")
    assert "slot: recipient_name" not in text and "{slot: porsi" not in text
    flow.write_text(text, encoding="utf-8")
    switch = tmp_path / "dialogues/flows/pembatalan.yml"  # pembatalan hands its answers over under the new names
    text = switch.read_text(encoding="utf-8")
    switch.write_text(text.replace("        reason: ", "        alasan: ").replace("        porsi: porsi",
                                                                               "        nomor_jemaah: porsi"),
                      encoding="utf-8")
    return tmp_path


async def test_renamed_slots_still_create_the_case(tmp_path: Path, db) -> None:
    engine = DialogueEngine.load(DialogueSettings(), OFFICE, renamed_copy(tmp_path))
    chat = Chat(db, engine, FileStore(tmp_path / "files"))
    await chat.say("mau limpahkan porsi ibu saya", parse=TRANSFER)
    await chat.say("ibu saya sudah meninggal")
    await chat.say("0312345678")
    out = await chat.say("3 Mei 1960")
    assert "wafat" in out  # the identity check read the renamed porsi slot
    await chat.say("14-8-2025")
    await chat.say("Rina Marlina")
    await chat.say("NIK 1375 0145 0890 0001")
    await chat.say("5 Agustus 1990")
    out = await chat.say("anak kandung")
    assert "Dokumen 1 dari 10" in out  # the checklist named by the renamed slot: pelimpahan_{alasan}
    for _ in range(10):
        if 'ketik "lewati"' in out:
            out = await chat.say("lewati")
            continue
        await chat.say(files=[make_photo()])
        out = await chat.say("selesai")
    out = await chat.say("betul")
    assert "PLH-2026-00001" in out
    async with db.session() as s:
        case = (await s.execute(select(Case))).scalar_one()
    assert (case.nomor_porsi, case.applicant_name, case.variant) == ("0312345678", "Rina Marlina", "meninggal")
    assert case.answers["_checklist"] == "pelimpahan_meninggal" and case.answers["nama_penerima"] == "Rina Marlina"
    assert "identity" not in case.answers

