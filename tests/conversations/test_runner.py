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
