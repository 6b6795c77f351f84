"""Loads flows/, responses/ and rules/ into one validated bundle, cross-checking references between them."""
from __future__ import annotations

import ast
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dialogues.conditions import ConditionError, compile_condition
from dialogues.errors import DialogueConfigError
from dialogues.loader import line_of, read_yaml, validate
from dialogues.schema import Flow, FlowsFile, MenuItem, Rules, Step

KNOWN_INTENTS = (
    "greet", "goodbye", "thanks", "affirm", "deny", "menu", "check_porsi", "check_case_status",
    "cancel_registration", "transfer_porsi", "register_hajj", "ask_cost", "ask_schedule", "ask_office",
    "human_handoff", "subscribe", "unsubscribe", "stop", "faq", "out_of_scope", "nlu_fallback", "info_menu",
)
ACTIONS = ("lookup_porsi", "verify_identity", "show_porsi", "create_case", "offer_slots", "find_cases", "show_case",
           "find_registered", "recipient_not_owner", "verify_case", "prepare_letters")
ACTION_RESULTS = {
    "lookup_porsi": ("ok", "not_found", "locked"), "verify_identity": ("ok", "failed", "locked"),
    "show_porsi": ("ok",), "create_case": ("ok", "slot_full"), "offer_slots": ("ok", "none"),
    "find_cases": ("shown", "none"), "show_case": ("ok", "verify", "locked"), "find_registered": ("ok", "registered"),
    "recipient_not_owner": ("ok", "same_person"), "verify_case": ("ok", "failed", "locked"),
    "prepare_letters": ("ok", "none", "failed"),
}
# Params naming the slots an action reads: required, and optional ones (checked against the flow's ask steps).
ACTION_SLOT_PARAMS = {
    "lookup_porsi": ("slot",), "verify_identity": ("slot", "answer"), "find_registered": ("slot",),
    "recipient_not_owner": ("slot",), "find_cases": ("slot",), "show_case": ("slot",),
    "verify_case": ("slot", "answer"),
}
OPTIONAL_SLOT_PARAMS = {"create_case": ("book",)}
# Response keys the engine itself uses (flows reference the rest).
ENGINE_KEYS = (
    "letters_ready", "letters_regenerated", "letters_failed", "letter_footer",
    "greet", "menu", "info_menu", "info_choices", "not_understood", "thanks", "goodbye", "faq_unknown",
    "subscribed", "unsubscribed", "no_flow_files", "choice_yes", "choice_no", "reask_generic", "expected_text",
    "resume_after_answer", "fail_offer_handoff", "handoff_declined", "handoff_open", "handoff_closed",
    "abort_confirm", "aborted", "abort_cancelled", "resume_offer", "choice_resume", "choice_restart",
    "choice_menu", "restarted", "correction_pick", "correction_ok", "correction_docs", "switched_flow",
    "summary_footer", "yes_value", "no_value", "empty_value", "documents_header", "documents_line_ok",
    "documents_line_skipped", "documents_line_missing", "doc_prompt", "doc_optional", "doc_received",
    "doc_skipped", "doc_required_skipped", "doc_no_file_yet", "doc_expected", "doc_replaced", "docs_done",
    "doc_bad_type", "doc_too_large", "doc_too_small", "doc_blurry", "doc_unreadable", "doc_pdf_locked",
    "doc_too_many_pages", "doc_empty", "resend_prompt", "resend_thanks", "porsi_status", "estimasi_value",
    "estimasi_unknown", "case_list_header", "case_line", "case_missing", "case_detail", "service_labels",
    "case_status_labels", "busy_other_flow", "noted_later", "askback_yesno", "askback_one", "askback_choice",
    "stale_choice", "noted_item", "noted_and", "noted_slots", "correction_done", "offer_switch", "midflow_greet", "midflow_thanks", "requirements_header",
    "requirements_item", "requirements_start", "requirements_note", "slot_label", "next_open_label",
    "wait_minutes", "wait_hours", "wait_hours_minutes", "identity_failed", "case_identity_failed",
)


@dataclass
class Bundle:
    flows: dict[str, Flow]
    menu: list[MenuItem]
    rules: Rules
    responses: dict[str, Any]
    conditions: dict[str, ast.Expression] = field(default_factory=dict)
    intent_flow: dict[str, str] = field(default_factory=dict)


def _yaml_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise DialogueConfigError(f"{directory}: directory not found")
    files = sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")])
    if not files:
        raise DialogueConfigError(f"{directory}: no .yml files")
    return files


def load_responses(directory: Path) -> tuple[dict[str, Any], dict[str, Path]]:
    templates: dict[str, Any] = {}
    origin: dict[str, Path] = {}
    for path in _yaml_files(directory):
        data = read_yaml(path) or {}
        if not isinstance(data, dict):
            raise DialogueConfigError(f"{path}: expected a mapping of template keys")
        for key, value in data.items():
            if key in templates:
                raise DialogueConfigError(f"{path}: template '{key}' is also defined in {origin[key]}")
            if not isinstance(value, (str, list, dict)):
                raise DialogueConfigError(f"{path}: template '{key}' must be text, a list or a mapping")
            for text in _texts(value):
                try:
                    list(string.Formatter().parse(text))
                except ValueError as exc:
                    raise DialogueConfigError(f"{path}: template '{key}': {exc} (use {{name}} for variables)") from None
            templates[key] = value
            origin[key] = path
    return templates, origin


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, dict):
        return [str(v) for v in value.values()]
    return []


def load_rules(directory: Path) -> Rules:
    merged: dict[str, Any] = {}
    origin: dict[str, Path] = {}
    for path in _yaml_files(directory):
        data = read_yaml(path) or {}
        if not isinstance(data, dict):
            raise DialogueConfigError(f"{path}: expected a mapping at the top level")
        for key, value in data.items():
            if key in merged:
                raise DialogueConfigError(f"{path}: section '{key}' is also defined in {origin[key]}")
            merged[key] = value
            origin[key] = path
    return validate(Rules, merged, directory, origin)


def load_flows(directory: Path) -> tuple[dict[str, Flow], list[MenuItem], dict[str, tuple[Path, Any]]]:
    flows: dict[str, Flow] = {}
    menu: list[MenuItem] = []
    sources: dict[str, tuple[Path, Any]] = {}
    for path in _yaml_files(directory):
        data = read_yaml(path) or {}
        parsed = validate(FlowsFile, data, path)
        if parsed.flow:
            if parsed.flow.name in flows:
                raise DialogueConfigError(f"{path}: flow '{parsed.flow.name}' is defined twice")
            flows[parsed.flow.name] = parsed.flow
            sources[parsed.flow.name] = (path, data)
        if parsed.menu:
            menu.extend(parsed.menu)
    if not menu:
        raise DialogueConfigError(f"{directory}: no file defines the 'menu'")
    return flows, menu, sources


def load_bundle(flows_dir: Path, responses_dir: Path, rules_dir: Path) -> Bundle:
    responses, _origin = load_responses(responses_dir)
    rules = load_rules(rules_dir)
    flows, menu, sources = load_flows(flows_dir)
    bundle = Bundle(flows=flows, menu=menu, rules=rules, responses=responses)
    for key in ENGINE_KEYS:
        if key not in responses:
            raise DialogueConfigError(f"{responses_dir}: missing template '{key}' (used by the engine)")
    for item in menu:
        _need_response(bundle, item.label, responses_dir, "menu")
        if item.intent not in KNOWN_INTENTS:
            raise DialogueConfigError(f"{flows_dir}: menu item '{item.label}': unknown intent '{item.intent}'")
    for name, flow in flows.items():
        _check_flow(bundle, flow, *sources[name], responses_dir)
    return bundle


def _need_response(bundle: Bundle, key: str, where: Path | str, what: str) -> None:
    if key not in bundle.responses:
        raise DialogueConfigError(f"{where}: {what}: response '{key}' is not defined in dialogues/responses")


def _check_flow(bundle: Bundle, flow: Flow, path: Path, data: Any, responses_dir: Path) -> None:
    def where(i: int) -> str:
        line = line_of(data, ("flow", "steps", i))
        return f"{path}: line {line}" if line else str(path)

    _need_response(bundle, flow.title, path, f"flow '{flow.name}' title")
    for intent in flow.intents:
        if intent not in KNOWN_INTENTS:
            raise DialogueConfigError(f"{path}: unknown intent '{intent}'")
        if intent in bundle.intent_flow:
            raise DialogueConfigError(f"{path}: intent '{intent}' already starts flow '{bundle.intent_flow[intent]}'")
        bundle.intent_flow[intent] = flow.name
    for name in flow.requirements:
        if name not in bundle.rules.checklists:
            raise DialogueConfigError(f"{path}: requirements: checklist '{name}' is not in dialogues/rules (checklists)")
    for i, step in enumerate(flow.steps):
        keys = [k for k in (step.prompt, step.reask, step.label, step.summary) if k]
        keys += step.say + [k for o in step.results.values() for k in o.say] + (step.fail.say if step.fail else [])
        keys += [o.label for o in step.options]
        keys += [c.refuse for c in step.checks] + [k for k in (step.means_yes, step.means_no) if k]
        for key in keys:
            _need_response(bundle, key, where(i), f"step '{step.id}'")
        exprs = [step.when, step.condition, *[c.when for c in step.cases], *step.carry.values(),
                 *[c.condition for c in step.checks]]
        for expr in exprs:
            if expr:
                try:
                    bundle.conditions[expr] = compile_condition(expr)
                except ConditionError as exc:
                    raise DialogueConfigError(f"{where(i)}: step '{step.id}': {exc}") from None
        if step.type == "action":
            if step.action not in ACTIONS:
                raise DialogueConfigError(f"{where(i)}: step '{step.id}': unknown action '{step.action}' "
                                          f"(known: {', '.join(ACTIONS)})")
            for result in step.results:
                if result not in ACTION_RESULTS[step.action]:
                    raise DialogueConfigError(f"{where(i)}: step '{step.id}': action {step.action} has no result "
                                              f"'{result}' (results: {', '.join(ACTION_RESULTS[step.action])})")
            _check_slot_params(flow, step, where(i))
        if step.type == "switch" and step.flow not in _all_flow_names(path):
            raise DialogueConfigError(f"{where(i)}: step '{step.id}': unknown flow '{step.flow}'")
        if step.type == "documents":
            for name in _checklist_names(flow, step.checklist or ""):
                if name not in bundle.rules.checklists:
                    raise DialogueConfigError(f"{where(i)}: step '{step.id}': checklist '{name}' is not in "
                                              f"dialogues/rules (checklists)")
    _check_case(flow, path, data)


def _check_slot_params(flow: Flow, step: Step, where: str) -> None:
    """An action reads the slots its params name: each must be asked for in this flow."""
    asked = flow.asked_slots()
    required = ACTION_SLOT_PARAMS.get(step.action or "", ())
    for param in (*required, *OPTIONAL_SLOT_PARAMS.get(step.action or "", ())):
        slot = step.params.get(param)
        if slot is None and param in required:
            raise DialogueConfigError(f"{where}: step '{step.id}': action {step.action} needs params.{param} "
                                      f"(the slot it reads)")
        if slot is not None and slot not in asked:
            raise DialogueConfigError(f"{where}: step '{step.id}': params.{param} names slot '{slot}', which no "
                                      f"step of this flow asks for")


def _check_case(flow: Flow, path: Path, data: Any) -> None:
    """The `case:` declaration names slots the flow asks for and its documents step; create_case needs it."""
    line = line_of(data, ("flow", "case"))
    where = f"{path}: line {line}" if flow.case and line else str(path)
    creates = next((s for s in flow.steps if s.action == "create_case"), None)
    if creates is not None and flow.case is None:
        raise DialogueConfigError(f"{path}: step '{creates.id}': create_case needs the flow's 'case:' declaration "
                                  f"(fields and documents handed to the case)")
    if flow.case is None:
        return
    asked = flow.asked_slots()
    for column, slot in flow.case.fields.model_dump(exclude_none=True).items():
        if slot not in asked:
            raise DialogueConfigError(f"{where}: case.fields.{column} names slot '{slot}', which no step of this "
                                      f"flow asks for")
    if flow.case.documents and flow.documents_step() is None:
        raise DialogueConfigError(f"{where}: case.documents '{flow.case.documents}' is not a documents step of "
                                  f"this flow")


def _all_flow_names(path: Path) -> set[str]:
    names = set()
    for p in path.parent.glob("*.yml"):
        data = read_yaml(p) or {}
        if isinstance(data, dict) and isinstance(data.get("flow"), dict):
            names.add(data["flow"].get("name"))
    return names


def _checklist_names(flow: Flow, template: str) -> list[str]:
    """Every checklist name a template such as 'pembatalan_{variant}' can produce from the slot's options."""
    names = [template]
    for var in re.findall(r"\{(\w+)\}", template):
        values = [o.value for s in flow.steps if s.slot == var for o in s.options]
        if not values:
            raise DialogueConfigError(f"flow '{flow.name}': checklist '{template}' uses '{var}', which is not a "
                                      f"choice slot of this flow")
        names = [n.replace("{" + var + "}", v) for n in names for v in values]
    return names
