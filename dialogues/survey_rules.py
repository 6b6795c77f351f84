"""The `skm:` section of dialogues/rules/skm.yml: the Survei Kepuasan Masyarakat (PermenPANRB 14/2017)
asked in chat after a case is closed — its elements, answer scale and the words pilgrims use."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SkmElement(_Strict):
    """One of the nine elements (unsur) with its question and the four answer labels (scores 1..4)."""

    key: str
    name: str
    question: str
    labels: list[str] = Field(min_length=4, max_length=4)


class SkmRules(_Strict):
    enabled: bool = True
    legal_basis: str
    services: list[str] = Field(min_length=1, description="case services surveyed when closed")
    close_statuses: list[str] = Field(default_factory=lambda: ["completed", "rejected"])
    offer_valid_days: int = Field(14, ge=1, description="an unanswered offer lapses after this many days")
    weight: float | None = Field(None, gt=0, le=1, description="weight per element; empty = 1/number of elements")
    elements: list[SkmElement] = Field(min_length=1)
    start_words: list[str]
    later_words: list[str]
    skip_words: list[str]
    score_words: dict[int, list[str]] = Field(description="informal words per score 1..4")

    @field_validator("score_words")
    @classmethod
    def _scores(cls, v: dict[int, list[str]]) -> dict[int, list[str]]:
        if set(v) - {1, 2, 3, 4}:
            raise ValueError("scores are 1, 2, 3 and 4")
        return v

    @model_validator(mode="after")
    def _unique_keys(self) -> "SkmRules":
        keys = [e.key for e in self.elements]
        if len(set(keys)) != len(keys):
            raise ValueError("element keys must be unique")
        return self
