"""Office-edited files are validated at start-up with a one-line error naming the file and line."""
import shutil
from pathlib import Path

import pytest

from dialogues.engine import DialogueEngine
from dialogues.errors import DialogueConfigError
from dialogues.settings import DialogueSettings
from tests.dialogues.conftest import OFFICE, ROOT


@pytest.fixture
def base(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "dialogues" / "flows", tmp_path / "dialogues" / "flows")
    shutil.copytree(ROOT / "dialogues" / "responses", tmp_path / "dialogues" / "responses")
    shutil.copytree(ROOT / "dialogues" / "rules", tmp_path / "dialogues" / "rules")
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def load(base: Path) -> str:
    with pytest.raises(DialogueConfigError) as err:
        DialogueEngine.load(DialogueSettings(), OFFICE, base)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_the_shipped_files_load() -> None:
    DialogueEngine.load(DialogueSettings(), OFFICE, ROOT)


def test_unknown_validator(base: Path) -> None:
    edit(base / "dialogues/flows/cek_porsi.yml", "validator: porsi,", "validator: porsinumber,")
    msg = load(base)
    assert "cek_porsi.yml" in msg and "line 7" in msg and "porsinumber" in msg


def test_bad_yaml(base: Path) -> None:
    edit(base / "dialogues/rules/eligibility.yml", "  min_recipient_age: 12", "  min_recipient_age: [12")
    msg = load(base)
    assert "eligibility.yml" in msg and "line" in msg


def test_bad_rule_value(base: Path) -> None:
    edit(base / "dialogues/rules/eligibility.yml", "death_date_cutoff: 2019-04-29", "death_date_cutoff: kemarin")
    msg = load(base)
    assert "eligibility.yml" in msg and "death_date_cutoff" in msg and "line 3" in msg


def test_missing_response(base: Path) -> None:
    edit(base / "dialogues/flows/pelimpahan.yml", "prompt: ask_recipient_nik", "prompt: ask_recipient_nikk")
    msg = load(base)
    assert "pelimpahan.yml" in msg and "ask_recipient_nikk" in msg and "line" in msg


def test_bad_condition(base: Path) -> None:
    edit(base / "dialogues/flows/pelimpahan.yml", "condition: \"age(recipient_dob)", "condition: \"__import__('os') or age(recipient_dob)")
    msg = load(base)
    assert "pelimpahan.yml" in msg and "recipient_age" in msg


def test_unknown_checklist(base: Path) -> None:
    edit(base / "dialogues/rules/checklists.yml", "  pelimpahan_tidak_istithaah:", "  pelimpahan_istithaah:")
    msg = load(base)
    assert "pelimpahan_tidak_istithaah" in msg


def test_unknown_key_in_checklist_item(base: Path) -> None:
    edit(base / "dialogues/rules/checklists.yml", "form: asli, hint:", "form: asli, hintt:")
    msg = load(base)
    assert "checklists.yml" in msg and "line 9" in msg and "hint" in msg


def test_case_field_naming_a_slot_never_asked_fails(base: Path) -> None:
    edit(base / "dialogues/flows/pelimpahan.yml", "applicant_name: recipient_name", "applicant_name: nama_penerima")
    msg = load(base)
    assert "pelimpahan.yml" in msg and "line 9" in msg and "nama_penerima" in msg and "applicant_name" in msg


def test_action_param_naming_a_slot_never_asked_fails(base: Path) -> None:
    edit(base / "dialogues/flows/pelimpahan.yml", "params: {slot: recipient_nik}", "params: {slot: nik_penerima}")
    msg = load(base)
    assert "pelimpahan.yml" in msg and "recipient_not_owner" in msg and "nik_penerima" in msg


def test_create_case_without_a_case_declaration_fails(base: Path) -> None:
    path = base / "dialogues/flows/pendaftaran.yml"
    edit(path, "  case:  #", "  # case:  #")
    edit(path, "    fields: {applicant_name: applicant_name}\n    documents: documents\n", "")
    msg = load(base)
    assert "pendaftaran.yml" in msg and "create_case" in msg and "case:" in msg
