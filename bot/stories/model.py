"""The story format (tests/conversations/README.md): load YAML files and check them strictly, so a typo in a
key is an error naming the file, story and step instead of an expectation that silently never runs."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.stories.media import KINDS

CHANNELS = ("webchat", "telegram", "whatsapp")
ACTIONS = ("user", "click", "file", "files", "staff")
MODIFIERS = ("after", "stale", "note")
EXPECTATIONS = ("intent", "intent_not", "slots", "flow", "step", "reply_contains", "reply_not_contains",
                "reply_matches", "choices_include", "choices_exclude", "no_reply", "case", "staff_sees", "optout",
                "mode")
STAFF_ACTIONS = ("start_review", "request_info", "invite", "approve", "reject", "complete", "message",
                 "take_over", "return_to_bot", "accept_document", "reject_document", "registry_update")
SETUP_KEYS = ("now", "demo_registry", "registry", "cases", "display_name", "subscribed", "strangers_failed")
CASE_SETUP_KEYS = ("service", "variant", "status", "ticket", "nomor_porsi", "applicant_name", "answers",
                   "documents", "submitted_days_ago", "owner")
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")


class StoryFormatError(ValueError):
    """A story file does not follow the format; the message names file, story and step."""


@dataclass
class FileSpec:
    kind: str
    name: str | None = None
    pages: int = 2


@dataclass
class StaffSpec:
    action: str
    text: str = ""
    ticket: str | None = None
    slot: int = 1  # invite: the n-th upcoming free slot
    item: str | None = None  # document actions: checklist item key
    # registry_update: the porsi whose registry row an admin's import changes, its new status / estimated year
    registry: dict[str, Any] = field(default_factory=dict)


@dataclass
class Step:
    index: int  # 1-based
    user: str | None = None
    click: str | None = None
    files: list[FileSpec] = field(default_factory=list)
    staff: StaffSpec | None = None
    after_seconds: float = 0.0
    stale: bool = False
    expect: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        if self.staff is not None:
            return f"staff {self.staff.action}" + (f": {self.staff.text}" if self.staff.text else "")
        if self.click is not None:
            return f"click [{self.click}]"
        parts = [self.user or ""] + [f"<{f.kind} {f.name or ''}>".replace(" >", ">") for f in self.files]
        return " ".join(p for p in parts if p)


@dataclass
class Story:
    name: str
    category: str
    file: Path
    steps: list[Step]
    channel: str = "webchat"
    setup: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.file.stem}::{self.name}"


def parse_duration(value: Any, where: str) -> float:
    """'90s', '30m', '26h', '2d' -> seconds."""
    match = DURATION.match(str(value))
    if not match:
        raise StoryFormatError(f"{where}: duration {value!r} must look like 30m, 26h or 2d")
    return float(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


def _file(value: Any, where: str) -> FileSpec:
    if isinstance(value, str):
        value = {"kind": value}
    if not isinstance(value, dict) or value.get("kind") not in KINDS:
        raise StoryFormatError(f"{where}: file needs kind: one of {', '.join(KINDS)}")
    unknown = set(value) - {"kind", "name", "pages"}
    if unknown:
        raise StoryFormatError(f"{where}: unknown file key(s) {sorted(unknown)}")
    return FileSpec(kind=value["kind"], name=value.get("name"), pages=int(value.get("pages", 2)))


def _staff(value: Any, where: str) -> StaffSpec:
    if isinstance(value, str):
        value = {"action": value}
    if not isinstance(value, dict) or value.get("action") not in STAFF_ACTIONS:
        raise StoryFormatError(f"{where}: staff needs action: one of {', '.join(STAFF_ACTIONS)}")
    unknown = set(value) - {"action", "text", "ticket", "slot", "item", "porsi", "status", "estimasi"}
    if unknown:
        raise StoryFormatError(f"{where}: unknown staff key(s) {sorted(unknown)}")
    registry = {k: value[k] for k in ("porsi", "status", "estimasi") if k in value}
    spec = StaffSpec(action=value["action"], text=str(value.get("text") or ""), ticket=value.get("ticket"),
                     slot=int(value.get("slot", 1)), item=value.get("item"), registry=registry)
    if spec.action == "registry_update" and "porsi" not in registry:
        raise StoryFormatError(f"{where}: staff registry_update needs porsi (and status and/or estimasi)")
    if spec.action in ("request_info", "reject", "message", "reject_document") and not spec.text:
        raise StoryFormatError(f"{where}: staff {spec.action} needs text")
    if spec.action in ("accept_document", "reject_document") and not spec.item:
        raise StoryFormatError(f"{where}: staff {spec.action} needs item (a checklist item key)")
    return spec


def _step(raw: Any, index: int, where: str) -> Step:
    where = f"{where}, step {index}"
    if not isinstance(raw, dict):
        raise StoryFormatError(f"{where}: a step is a mapping such as {{user: 'assalamualaikum'}}")
    unknown = set(raw) - set(ACTIONS) - set(MODIFIERS) - set(EXPECTATIONS)
    if unknown:
        raise StoryFormatError(f"{where}: unknown key(s) {sorted(unknown)}")
    actions = [a for a in ACTIONS if a in raw]
    if not actions or (len(actions) > 1 and not set(actions) <= {"user", "file", "files"}):
        raise StoryFormatError(f"{where}: needs exactly one of user / click / staff (user may carry file/files)")
    step = Step(index=index, stale=bool(raw.get("stale", False)))
    if "user" in raw:
        step.user = str(raw["user"]) if raw["user"] is not None else ""
    if "click" in raw:
        step.click = str(raw["click"])
    if "file" in raw:
        step.files.append(_file(raw["file"], where))
    for item in raw.get("files") or []:
        step.files.append(_file(item, where))
    if "staff" in raw:
        step.staff = _staff(raw["staff"], where)
    if "after" in raw:
        step.after_seconds = parse_duration(raw["after"], where)
    step.expect = {k: v for k, v in raw.items() if k in EXPECTATIONS}  # checked in the order written
    for key in ("slots", "case", "staff_sees"):
        value = step.expect.get(key)
        if key in step.expect and not (isinstance(value, dict) or (key == "case" and value in (None, False))):
            raise StoryFormatError(f"{where}: {key} must be a mapping")
    for key in ("reply_matches",):
        for pattern in _as_list(step.expect.get(key)):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise StoryFormatError(f"{where}: reply_matches {pattern!r} is not a valid regex ({exc})") from None
    return step


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _story(raw: Any, path: Path, index: int) -> Story:
    where = f"{path.name}, story {index}"
    if not isinstance(raw, dict):
        raise StoryFormatError(f"{where}: a story is a mapping with name, category, steps")
    unknown = set(raw) - {"name", "category", "channel", "setup", "steps", "description"}
    if unknown:
        raise StoryFormatError(f"{where}: unknown key(s) {sorted(unknown)}")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise StoryFormatError(f"{where}: name is required")
    where = f"{path.name}, story '{name}'"
    category = raw.get("category")
    if not isinstance(category, str) or not re.fullmatch(r"[a-z0-9_]+", category):
        raise StoryFormatError(f"{where}: category is required (lower_case_words)")
    channel = raw.get("channel", "webchat")
    if channel not in CHANNELS:
        raise StoryFormatError(f"{where}: channel must be one of {', '.join(CHANNELS)}")
    setup = raw.get("setup") or {}
    if not isinstance(setup, dict) or set(setup) - set(SETUP_KEYS):
        raise StoryFormatError(f"{where}: setup keys are {', '.join(SETUP_KEYS)}")
    for case in setup.get("cases") or []:
        if not isinstance(case, dict) or "service" not in case or set(case) - set(CASE_SETUP_KEYS):
            raise StoryFormatError(f"{where}: setup.cases items need service; keys {', '.join(CASE_SETUP_KEYS)}")
    steps = raw.get("steps")
    if not isinstance(steps, list) or not steps:
        raise StoryFormatError(f"{where}: steps must be a non-empty list")
    return Story(name=name.strip(), category=category, file=path, channel=channel, setup=setup,
                 steps=[_step(s, i, where) for i, s in enumerate(steps, 1)])


def load_file(path: Path) -> list[Story]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise StoryFormatError(f"{path.name}: not valid YAML ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("stories"), list):
        raise StoryFormatError(f"{path.name}: the file must have a top-level 'stories:' list")
    stories = [_story(raw, path, i) for i, raw in enumerate(data["stories"], 1)]
    seen: set[str] = set()
    for story in stories:
        if story.name in seen:
            raise StoryFormatError(f"{path.name}: two stories named '{story.name}'")
        seen.add(story.name)
    return stories


def story_files(path: Path) -> list[Path]:
    """A .yml file, or every *.yml under a directory (sorted)."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*.yml") if p.is_file())
    return [path]


def load_stories(path: Path) -> list[Story]:
    stories: list[Story] = []
    for file in story_files(path):
        stories.extend(load_file(file))
    return stories
