"""docs/architecture.md kept true: every room imports only the rooms below it, no new import circle, no new
import inside a function. The imports are read from the source (tests/foundation/imports.py)."""
from __future__ import annotations

from pathlib import Path

from tests.foundation.imports import ROOT, Import, circles, project_imports, room

BELOW_CONFIG = {"bot.backoffice", "bot.broadcast", "bot.channels", "bot.core", "bot.docread", "bot.updates", "dialogues",
                "nlu", "storage"}
# room -> the rooms it may import at run time (its own room always)
MAY_IMPORT: dict[str, set[str]] = {
    "storage": set(),
    "nlu": set(),
    "dialogues": {"nlu", "storage"},  # nlu/entities: the one date reader and NIK check
    "bot.core": {"dialogues", "nlu", "storage"},
    "bot.channels": {"bot.core", "storage"},
    "bot.docread": {"bot.core", "dialogues", "nlu", "storage"},
    "bot.backoffice": {"bot.core", "bot.docread", "dialogues", "nlu", "storage"},
    "bot.broadcast": {"bot.backoffice", "bot.channels", "bot.core", "storage"},
    "bot.updates": {"bot.backoffice", "bot.broadcast", "bot.core", "dialogues", "storage"},
    "bot.config": BELOW_CONFIG,
    "bot.assembly": BELOW_CONFIG | {"bot.config"},
    "bot.stories": BELOW_CONFIG | {"bot.config", "bot.assembly"},
    "bot.cli": BELOW_CONFIG | {"bot.config", "bot.assembly", "bot.stories"},
}
# circles that were there before this test; they may shrink, not grow (dialogues.parsing reads yes/no with
# dialogues.answers; storage.models registers the broadcast and personal-update tables)
KNOWN_CIRCLES = [{"storage.broadcast_models", "storage.models", "storage.update_models"},
                 {"dialogues.answers", "dialogues.parsing", "dialogues.validators"}]
# project imports inside a function that are allowed: a channel's SDK only when the channel is enabled, the
# SQLite driver only for SQLite, the modules built on heavy libraries (reportlab, pypdf) at their first use (one
# accessor each), and the known circle above; the CLI loads a command's modules when it runs
LOCAL_ALLOWED = {("bot.channels.registry", "bot.channels.telegram"), ("bot.channels.registry", "bot.channels.whatsapp"),
                 ("storage.db", "storage.sqlite_driver"), ("dialogues.parsing", "dialogues.answers"),
                 ("dialogues.case_letters", "dialogues.letter_pdf"), ("bot.backoffice.views_exports", "bot.backoffice.pdf_export")}
LOCAL_ROOMS = {"bot.cli"}


def _where(arrow: Import, root: Path = ROOT) -> str:
    parts = arrow.source.split(".")
    path = root.joinpath(*parts)
    shown = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    return f"{shown.relative_to(root)}:{arrow.line}"


def upward_imports(arrows: list[Import], root: Path = ROOT) -> list[str]:
    """Run-time imports a room may not make, one line each."""
    out = []
    for arrow in arrows:
        if not arrow.project or arrow.type_only or arrow.implied:
            continue
        source, target = room(arrow.source), room(arrow.target)
        if source == target or target in MAY_IMPORT.get(source, set()):
            continue
        out.append(f"{_where(arrow, root)} imports {arrow.target}: {source} may import "
                   f"{', '.join(sorted(MAY_IMPORT.get(source, set()))) or 'nothing of the project'}")
    return sorted(set(out))


def new_circles(arrows: list[Import]) -> list[list[str]]:
    """Import circles (run-time imports) that are not part of a known one."""
    found = circles([a for a in arrows if a.project and not a.type_only])
    return [c for c in found if not any(set(c) <= known for known in KNOWN_CIRCLES)]


def new_local_imports(arrows: list[Import], root: Path = ROOT) -> list[str]:
    """Project modules imported inside a function where that is not allowed."""
    return sorted({f"{_where(a, root)} imports {a.target} inside a function" for a in arrows
                   if a.project and a.local and not a.type_only and not a.implied and room(a.source) not in LOCAL_ROOMS
                   and (a.source, a.target) not in LOCAL_ALLOWED})


def test_every_room_imports_only_the_rooms_below_it() -> None:
    assert upward_imports(project_imports()) == []


def test_no_new_import_circle() -> None:
    assert new_circles(project_imports()) == []


def test_no_new_import_inside_a_function() -> None:
    assert new_local_imports(project_imports()) == []


def test_config_takes_only_the_settings_of_the_rooms() -> None:
    """bot/config.py collects each room's settings model; it does not reach into the rooms' code."""
    wrong = [a for a in project_imports() if a.source == "bot.config" and a.project and not a.type_only
             and room(a.target) in {"bot.backoffice", "bot.broadcast", "bot.channels"}
             and a.target not in ("bot.backoffice", "bot.broadcast", "bot.channels")
             and not a.target.endswith(".settings")]
    assert wrong == []


def test_the_architecture_page_names_every_room() -> None:
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    folders = {"bot.core": "bot/core/", "bot.channels": "bot/channels/", "bot.backoffice": "bot/backoffice/",
               "bot.broadcast": "bot/broadcast/", "bot.docread": "bot/docread/", "bot.updates": "bot/updates/",
               "bot.cli": "bot/cli/",
               "bot.stories": "bot/stories/",
               "bot.config": "bot/config.py", "bot.assembly": "bot/services.py", "dialogues": "dialogues/",
               "nlu": "nlu/", "storage": "storage/"}
    assert set(folders) == set(MAY_IMPORT)
    assert [path for path in folders.values() if f"`{path}" not in page] == []


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for package in ("bot", "bot/core", "bot/channels", "dialogues", "nlu", "storage"):
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").touch()
    return root


def test_the_checks_catch_an_upward_import_a_circle_and_a_hidden_import(tmp_path: Path) -> None:
    """A developer adds storage -> dialogues (upward), a core <-> channels loop, and hides an import in a
    function: each check names the line."""
    root = _tree(tmp_path, {
        "storage/models.py": "from dialogues.engine import DialogueEngine\n",
        "dialogues/engine.py": "from storage.db import Database\n",
        "storage/db.py": "X = 1\n",
        "bot/core/pipeline.py": "from bot.channels.webchat import WebChat\n",
        "bot/channels/webchat.py": "def make():\n    from bot.core.pipeline import Pipeline\n    return Pipeline\n",
        "nlu/model.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from storage.db import Database\n",
    })
    arrows = project_imports(root)
    upward = upward_imports(arrows, root)
    assert "storage/models.py:1 imports dialogues.engine: storage may import nothing of the project" in upward
    assert any(line.startswith("bot/core/pipeline.py:1 imports bot.channels") for line in upward)
    assert not any(line.startswith("nlu/") for line in upward)  # a type-only import is no arrow
    assert ["bot.channels.webchat", "bot.core.pipeline"] in new_circles(arrows)
    assert new_local_imports(arrows, root) == ["bot/channels/webchat.py:2 imports bot.core.pipeline inside a function"]
