"""Pydantic models of the office-editable files: flows/*.yml and rules/*.yml."""
from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dialogues.parsing import Lexicon
from dialogues.survey_rules import SkmRules

STEP_TYPES = ("ask", "say", "branch", "check", "action", "documents", "confirm", "switch", "end")
VALIDATORS = ("porsi", "nik", "date", "past_date", "identity", "yesno", "choice", "name", "text",
              "account_number", "ticket", "bank")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- flows

class Option(Strict):
    value: str
    label: str = Field(description="response key of the option's label")
    words: list[str] = []


class Outcome(Strict):
    """What happens after an action result or a failed check."""

    say: list[str] = []
    clear: list[str] = []
    goto: str | None = None
    fail: bool = False  # counts as a failed attempt at the `goto` step
    end: bool = False

    @field_validator("say", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class AnswerCheck(Strict):
    """A rule checked when the answer arrives: a refused value is never stored; `refuse` says why."""

    condition: str
    refuse: str = Field(description="response key explaining the rule (with its legal basis)")


class BranchCase(Strict):
    when: str
    goto: str


class Step(Strict):
    id: str
    type: Literal["ask", "say", "branch", "check", "action", "documents", "confirm", "switch", "end"]
    when: str | None = None
    # ask
    slot: str | None = None
    validator: str | None = None
    prompt: str | None = None
    reask: str | None = None
    label: str | None = None  # response key naming the slot in summaries and corrections
    options: list[Option] = []
    options_from: Literal["relationships", "appointment_slots"] | None = None
    extract: list[str] = []  # keywords after which the answer may be found in any message
    extract_bare: bool = False  # the value alone is unambiguous (e.g. a 10-digit porsi)
    other_option: str | None = None  # choice: free text that matches no option selects this option ...
    other_slot: str | None = None  # ... and is kept in this slot (e.g. reason 'lainnya' + reason_detail)
    words: list[str] = []  # how people name this answer when correcting it
    clears: list[str] = []  # slots that depend on this one
    checks: list[AnswerCheck] = []  # rules checked at answer time (the new value is the slot in the condition)
    means_yes: str | None = None  # yes/no: response keys naming each answer for the ask-back
    means_no: str | None = None   # ("Maksudnya belum pernah berhaji dalam 18 tahun terakhir, ya?")
    # say / end
    say: list[str] = []
    # branch
    cases: list[BranchCase] = []
    default: str | None = None
    # check
    condition: str | None = None
    fail: Outcome | None = None
    # action
    action: str | None = None
    params: dict[str, Any] = {}
    results: dict[str, Outcome] = {}
    # documents
    checklist: str | None = None
    # confirm
    summary: str | None = None
    # switch
    flow: str | None = None
    carry: dict[str, str] = {}

    @field_validator("say", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _required_per_type(self) -> "Step":
        need = {"ask": ("slot", "validator", "prompt"), "say": ("say",), "check": ("condition", "fail"),
                "action": ("action",), "documents": ("checklist",), "confirm": ("summary",),
                "switch": ("flow",), "branch": ("cases",)}.get(self.type, ())
        for name in need:
            if not getattr(self, name):
                raise ValueError(f"step '{self.id}' of type {self.type} needs '{name}'")
        if self.validator and self.validator not in VALIDATORS:
            raise ValueError(f"step '{self.id}': unknown validator '{self.validator}' (known: {', '.join(VALIDATORS)})")
        if self.validator == "choice" and not (self.options or self.options_from):
            raise ValueError(f"step '{self.id}': a choice needs 'options' or 'options_from'")
        return self


class CaseFields(Strict):
    """Case columns filled from this flow's slots (each value is a slot name the flow asks for)."""

    nomor_porsi: str | None = None
    applicant_name: str | None = None  # unset or unanswered: the verified pilgrim applies in person
    variant: str | None = None


class CaseSpec(Strict):
    """What the flow hands to a case (`create_case`): fields from slots, and the documents step whose checklist
    and files go with it. Every other answer is kept in the case's answers (without identity answers)."""

    fields: CaseFields = CaseFields()
    documents: str | None = Field(None, description="id of the flow's documents step")


class Flow(Strict):
    name: str
    title: str = Field(description="response key of the flow's name")
    intents: list[str] = []
    service: str | None = None  # case service name when the flow creates a case
    requirements: list[str] = []  # checklists listed when someone asks "syaratnya apa?"
    case: CaseSpec | None = None  # what create_case hands to the office
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="after")
    def _ids(self) -> "Flow":
        seen: set[str] = set()
        for step in self.steps:
            if step.id in seen:
                raise ValueError(f"duplicate step id '{step.id}'")
            seen.add(step.id)
        targets = [(s.id, o.goto) for s in self.steps for o in [*s.results.values(), *([s.fail] if s.fail else [])]]
        targets += [(s.id, c.goto) for s in self.steps for c in s.cases]
        targets += [(s.id, s.default) for s in self.steps]
        for sid, goto in targets:
            if goto and goto not in seen:
                raise ValueError(f"step '{sid}': goto '{goto}' is not a step of this flow")
        return self

    def index(self, step_id: str) -> int:
        return next(i for i, s in enumerate(self.steps) if s.id == step_id)

    def asked_slots(self) -> set[str]:
        """Every slot an ask step of this flow fills (including the free-text slot of an 'other' option)."""
        return {n for s in self.steps if s.type == "ask" for n in (s.slot, s.other_slot) if n}

    def slots_of(self, validator: str) -> list[str]:
        """The slots this flow asks for with `validator` (e.g. the nomor porsi, the identity answer)."""
        return [s.slot for s in self.steps if s.type == "ask" and s.validator == validator and s.slot]

    def documents_step(self) -> "Step | None":
        """The documents step named in the case declaration."""
        wanted = self.case.documents if self.case else None
        return next((s for s in self.steps if s.id == wanted and s.type == "documents"), None)


class MenuItem(Strict):
    label: str
    intent: str
    words: list[str] = []


class FlowsFile(Strict):
    flow: Flow | None = None
    menu: list[MenuItem] | None = None


# ---------------------------------------------------------------- rules

class ChecklistItem(Strict):
    key: str
    name: str
    form: Literal["asli", "fotokopi", "fotokopi_tunjukkan_asli", "cetak"]
    hint: str
    optional: bool = False
    notes: str | None = None
    legal_basis: str | None = None
    words: list[str] = []


class Checklist(Strict):
    title: str | None = None  # shown when someone asks for the requirements
    legal_basis: str
    items: list[ChecklistItem] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> "Checklist":
        keys = [i.key for i in self.items]
        dup = {k for k in keys if keys.count(k) > 1}
        if dup:
            raise ValueError(f"duplicate item key(s): {', '.join(sorted(dup))}")
        return self


class Relationship(Strict):
    value: str
    label: str
    allowed: bool
    basis: str
    words: list[str] = []


class Bank(Strict):
    name: str
    bps: bool  # a Bank Penerima Setoran Bipih
    words: list[str] = []


class BankRules(Strict):
    basis: str
    entries: list[Bank] = Field(min_length=1)


class PelimpahanRules(Strict):
    death_date_cutoff: date
    death_date_basis: str
    min_recipient_age: int = Field(ge=0, le=100)
    min_recipient_age_basis: str
    max_transfers: int = Field(ge=1)
    max_transfers_basis: str
    reasons_basis: str
    relationships: list[Relationship] = Field(min_length=1)


class PendaftaranRules(Strict):
    min_age: int = Field(ge=0, le=100)
    min_age_basis: str
    hajj_repeat_years: int = Field(ge=0, le=100)
    hajj_repeat_basis: str
    setoran_awal: str


class DocumentRules(Strict):
    accepted_types: list[str] = Field(min_length=1)
    min_image_width: int = Field(ge=1)
    min_image_height: int = Field(ge=1)
    min_sharpness: float = Field(ge=0)
    max_pdf_pages: int = Field(ge=1)
    max_image_pixels: int = Field(50_000_000, ge=1)  # larger images are refused before they are decoded
    form_labels: dict[str, str]


class ReadingPerson(Strict):
    """Whose identity a document shows, and where the values to compare come from."""

    label: str  # for staff: "jemaah", "penerima", ...
    registry: Literal["porsi", "nik", "none"] = "none"  # porsi: the case's pilgrim; nik: any pilgrim with that NIK
    nik_answer: str | None = None  # the case answer holding the NIK the pilgrim typed
    name_answer: str | None = None  # the case answer holding the typed name


class DocumentReadingRules(Strict):
    """OCR of identity documents (bot/docread): warnings for staff, never an automatic decision."""

    enabled: bool = True
    language: str = "ind"
    timeout_seconds: float = Field(30, gt=0, le=300)
    items: dict[str, str]  # checklist item key -> person key
    persons: dict[str, ReadingPerson]

    @model_validator(mode="after")
    def _known_persons(self) -> "DocumentReadingRules":
        unknown = sorted({p for p in self.items.values() if p not in self.persons})
        if unknown:
            raise ValueError(f"items name unknown persons: {', '.join(unknown)}")
        return self


def _hhmm(v: str) -> str:
    hh, _, mm = v.partition(":")
    if not (hh.isdigit() and mm.isdigit() and 0 <= int(hh) < 24 and 0 <= int(mm) < 60 and len(mm) == 2):
        raise ValueError(f"'{v}' is not a time HH:MM")
    return v


class AppointmentRules(Strict):
    weekly: dict[Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"], list[str]]
    capacity: int = Field(ge=1)
    days_ahead: int = Field(ge=1, le=365)
    min_lead_hours: float = Field(ge=0)
    offer_count: int = Field(ge=1, le=20)

    @field_validator("weekly")
    @classmethod
    def _times(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for times in v.values():
            for t in times:
                _hhmm(t)
        return v


class StatusInfo(Strict):
    label: str
    next: str


class InfoTexts(Strict):
    cost: str
    schedule: str
    office: str


class ConversationWords(Strict):
    """Words for stopping, replies to staff and bookings (dialogues/rules/conversation.yml)."""

    ambiguous_stop: list[str] = Field(min_length=1)  # a bare "STOP" inside a form: which stop is meant?
    stop_form: list[str] = Field(min_length=1)  # "berhenti mengisi formulir"
    stop_announcements: list[str] = Field(min_length=1)  # "berhenti menerima pengumuman"
    reschedule: list[str] = Field(min_length=1)  # "ganti jadwal", "berhalangan"
    cancel_booking: list[str] = Field(min_length=1)  # "batalkan jadwal", "tidak jadi datang"
    booking: list[str] = Field(min_length=1)  # "jadwal", "janji", "kunjungan"
    refuse: list[str] = Field(min_length=1)  # "jumat sy ada acara": that day is refused
    clause_breaks: list[str] = Field(min_length=1)  # "kamis bisa, tapi jumat ada acara": words between wishes
    reply_window_hours: float = Field(default=24, gt=0)  # further messages after a reply still reach the case
    resume_aborted_hours: float = Field(default=24, gt=0)  # "lanjut" resumes a stopped form this long
class ServiceStage(Strict):
    name: str
    label: str
    working_days: int = Field(ge=0, le=365)
    statuses: list[str] = Field(min_length=1)


class ServiceStandard(Strict):
    label: str
    basis: str
    stages: list[ServiceStage] = Field(min_length=1)


class ServiceLevelRules(Strict):
    """dialogues/rules/service_levels.yml: working days per stage of each service (see dialogues/service_level.py)."""
    include_cuti_bersama: bool = True
    extra_cuti_bersama: list[date] = []
    closures: list[date] = []
    warn_working_days: int = Field(1, ge=0, le=30)
    pause_statuses: list[str] = ["need_info"]
    services: dict[str, ServiceStandard] = {}


class Rules(Strict):
    language: Lexicon
    conversation: ConversationWords
    checklists: dict[str, Checklist]
    pelimpahan: PelimpahanRules
    pendaftaran: PendaftaranRules
    documents: DocumentRules
    office_hours: dict[Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"],
                       tuple[str, str]]
    holidays: list[date] = []
    appointments: AppointmentRules
    porsi_status: dict[str, StatusInfo]
    info: InfoTexts
    service_levels: ServiceLevelRules = ServiceLevelRules()
    banks: BankRules | None = None
    skm: SkmRules | None = None  # satisfaction survey (dialogues/rules/skm.yml); None: no survey
    document_reading: DocumentReadingRules | None = None  # OCR of KTP/KK (dialogues/rules/document_reading.yml)

    @field_validator("office_hours")
    @classmethod
    def _hours(cls, v: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
        for start, end in v.values():
            _hhmm(start), _hhmm(end)
            if start >= end:
                raise ValueError(f"opening {start} is not before closing {end}")
        return v

    @field_validator("porsi_status")
    @classmethod
    def _default_status(cls, v: dict[str, StatusInfo]) -> dict[str, StatusInfo]:
        if "default" not in v:
            raise ValueError("needs a 'default' entry")
        return v
