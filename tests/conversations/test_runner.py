"""The story runner itself: it must fail loudly on wrong expectations, unknown keys and impossible clicks,
and report the bot's actual replies; the CLI prints per story and per category and sets the exit code."""
from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest
from click.testing import CliRunner

from bot.stories.model import StoryFormatError, load_file
from bot.stories.report import failure_detail
from bot.stories.runner import run_story
from bot.stories.world import World


def story_file(tmp_path: Path, text: str, name: str = "probe.yml") -> Path:
    path = tmp_path / name
    path.write_text(dedent(text), encoding="utf-8")
    return path


async def play(world: World, tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    [story] = load_file(story_file(tmp_path, text))
    return await run_story(world, story)


async def test_a_wrong_expectation_fails_with_the_actual_replies(story_world: World, tmp_path: Path) -> None:
    result = await play(story_world, tmp_path, """
        stories:
          - name: salah harap
            category: happy_paths
            steps:
              - user: cek porsi 0312345678
                reply_contains: tanggal lahir
              - user: 5 juni 1960
                reply_contains: Perkiraan berangkat 2099
        """)
    assert not result.passed and result.failed_step == 2
    assert "reply_contains 'Perkiraan berangkat 2099'" in result.failure
    detail = failure_detail(result)
    assert "SITI A***" in detail and "5 juni 1960" in detail  # the bot's real reply and the pilgrim's turn


async def test_expectations_on_state_case_and_staff(story_world: World, tmp_path: Path) -> None:
    result = await play(story_world, tmp_path, """
        stories:
          - name: kasus lama disetujui
            category: back_office
            setup:
              cases:
                - {service: pembatalan, variant: sendiri, nomor_porsi: "0312345678", documents: [ktp_jemaah]}
            steps:
              - staff: start_review
                reply_contains: sedang diperiksa
                case: {status: in_review, documents_present: [ktp_jemaah], documents_missing: [sph]}
              - staff: approve
                case: {status: approved}
                staff_sees: {case_history_includes: [case.start_review, case.approve], inbox: false}
        """)
    assert result.passed, failure_detail(result)
    wrong = await play(story_world, tmp_path, """
        stories:
          - name: status keliru
            category: back_office
            setup:
              cases: [{service: pembatalan, variant: sendiri, nomor_porsi: "0312345678"}]
            steps:
              - staff: start_review
                case: {status: approved}
        """)
    assert not wrong.passed and "case.status: expected 'approved', got 'in_review'" in wrong.failure


async def test_the_back_office_refusing_an_action_fails_the_story(story_world: World, tmp_path: Path) -> None:
    result = await play(story_world, tmp_path, """
        stories:
          - name: setujui langsung
            category: back_office
            setup:
              cases: [{service: pembatalan, variant: sendiri, nomor_porsi: "0312345678"}]
            steps:
              - staff: approve
        """)
    assert not result.passed and "refused by the back office" in result.failure


async def test_buttons_must_be_on_screen_unless_stale(story_world: World, tmp_path: Path) -> None:
    never = await play(story_world, tmp_path, """
        stories:
          - name: tombol hantu
            category: stale_buttons
            steps:
              - user: assalamualaikum
              - click: Tombol yang tidak ada
        """)
    assert not never.passed and "was never offered" in never.failure
    old = await play(story_world, tmp_path, """
        stories:
          - name: tombol lama
            category: stale_buttons
            steps:
              - user: assalamualaikum
              - click: Cek nomor porsi
              - click: Pembatalan porsi
        """)
    assert not old.passed and "stale: true" in old.failure
    allowed = await play(story_world, tmp_path, """
        stories:
          - name: tombol lama sengaja
            category: stale_buttons
            steps:
              - user: assalamualaikum
              - click: Cek nomor porsi
                reply_contains: nomor porsi
              - click: Pembatalan porsi
                stale: true
                intent: cancel_registration
        """)
    assert allowed.passed, failure_detail(allowed)


@pytest.mark.parametrize("text, message", [
    ("stories: {}", "top-level 'stories:' list"),
    ("stories:\n  - {name: a, category: x, steps: [{user: hi, reply_contain: x}]}", "unknown key(s) ['reply_contain']"),
    ("stories:\n  - {name: a, category: x, steps: [{reply_contains: x}]}", "needs exactly one of"),
    ("stories:\n  - {name: a, category: x, steps: [{staff: request_info}]}", "needs text"),
    ("stories:\n  - {name: a, category: x, steps: [{user: hi, file: {kind: video}}]}", "file needs kind"),
    ("stories:\n  - {name: a, category: x, steps: [{user: hi}]}\n  - {name: a, category: x, steps: [{user: hi}]}",
     "two stories named 'a'"),
    ("stories:\n  - {name: a, category: Happy Paths, steps: [{user: hi}]}", "category is required"),
])
def test_format_errors_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(StoryFormatError) as info:
        load_file(story_file(tmp_path, text))
    assert message in str(info.value) and "probe.yml" in str(info.value)


def test_cli_prints_stories_and_categories_and_sets_the_exit_code(tmp_path: Path, story_settings) -> None:  # type: ignore[no-untyped-def]
    from bot.cli import _register, cli

    _register()
    config = story_settings.base_dir / "config.yml"
    good = story_file(tmp_path, """
        stories:
          - name: salam
            category: happy_paths
            steps:
              - user: assalamualaikum
                intent: greet
                choices_include: Pembatalan porsi
        """, "good.yml")
    runner = CliRunner()
    result = runner.invoke(cli, ["--config", str(config), "test", "conversations", str(good)])
    assert result.exit_code == 0, result.output
    assert "PASS  happy_paths" in result.output and "good::salam" in result.output
    assert "happy_paths" in result.output.split("category")[-1]
    bad = story_file(tmp_path, """
        stories:
          - name: salam salah
            category: off_topic
            steps:
              - user: assalamualaikum
                intent: goodbye
        """, "bad.yml")
    result = runner.invoke(cli, ["--config", str(config), "test", "conversations", str(bad)])
    assert result.exit_code == 1
    assert "FAIL  off_topic" in result.output and "intent: expected goodbye, got greet" in result.output


def test_generated_files_are_what_they_claim() -> None:
    """Photos pass the engine's own size and sharpness checks (blurred ones do not), PDFs open with their
    page count, voice notes are Ogg Opus with valid page checksums, stickers are WebP."""
    import io
    import wave

    from PIL import Image
    from pypdf import PdfReader

    from bot.stories import media
    from dialogues.documents import sharpness
    from storage.filetypes import sniff_content_type

    photo = media.generate("photo", None, seed=3)
    image = Image.open(io.BytesIO(photo.data))
    assert sniff_content_type(photo.data) == "image/jpeg" and image.size == (1280, 960)
    assert sharpness(image) > 50 > sharpness(Image.open(io.BytesIO(media.generate("blurry_photo", None, 3).data)))
    assert media.generate("photo", None, seed=4).data != photo.data
    assert len(PdfReader(io.BytesIO(media.generate("pdf", None, 1, pages=3).data)).pages) == 3
    with wave.open(io.BytesIO(media.generate("audio", None, 1).data)) as clip:
        assert clip.getnchannels() == 1 and clip.getnframes() / clip.getframerate() == 2.0
    voice = media.generate("voice", None, 1)
    assert voice.content_type.startswith("audio/ogg") and voice.data[:4] == b"OggS" and b"OpusHead" in voice.data
    offset, pages = 0, 0
    while offset < len(voice.data):  # every Ogg page carries a correct CRC
        segments = voice.data[offset + 26]
        size = 27 + segments + sum(voice.data[offset + 27: offset + 27 + segments])
        page = voice.data[offset: offset + size]
        assert media._ogg_crc(page[:22] + b"\0\0\0\0" + page[26:]) == int.from_bytes(page[22:26], "little")
        offset, pages = offset + size, pages + 1
    assert pages == 5  # head, tags, three seconds of audio
    assert sniff_content_type(media.generate("sticker", None, 1).data) == "image/webp"


async def test_a_message_the_pipeline_failed_on_fails_the_story(story_world: World, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash in the dialogue step is a failure even when no expectation would notice the apology."""
    real_step = story_world.engine.step

    async def failing_step(session, files, turn):  # type: ignore[no-untyped-def]
        if "kacau" in (turn.text or ""):
            raise RuntimeError("injected fault")
        return await real_step(session, files, turn)

    monkeypatch.setattr(story_world.engine, "step", failing_step)
    result = await play(story_world, tmp_path, """
        stories:
          - name: pesan yang gagal diproses
            category: happy_paths
            steps:
              - user: assalamualaikum
              - user: kacau balau
              - user: cek porsi
        """)
    assert not result.passed and result.failed_step == 2
    assert "did not process this message (status failed" in result.failure


def test_the_readme_example_follows_the_format(tmp_path: Path) -> None:
    """The complete example in tests/conversations/README.md must load, so the documentation stays true."""
    import re

    readme = (Path(__file__).parent / "README.md").read_text(encoding="utf-8")
    example = re.search(r"```yaml\n(.*?)```", readme, re.DOTALL)
    assert example is not None
    [story] = load_file(story_file(tmp_path, example.group(1), "readme.yml"))
    assert story.setup["cases"][0]["service"] == "pelimpahan" and len(story.steps) >= 10
    assert {s.staff.action for s in story.steps if s.staff} >= {"request_info", "invite", "reject_document"}
