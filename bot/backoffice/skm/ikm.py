"""The Indeks Kepuasan Masyarakat (IKM) as PermenPANRB No. 14 Tahun 2017 defines it (Lampiran, Bab IV
"Pengolahan Data Survei"):

- each respondent scores each of the nine elements (unsur) 1..4;
- NRR per element (nilai rata-rata unsur) = sum of the element's scores / number of answers to that element;
- each element has the same weight: bobot = jumlah bobot / jumlah unsur = 1/9 (printed as 0,111);
- IKM = sum over the elements of NRR × bobot (the weighted mean, 1.00..4.00);
- IKM unit pelayanan = IKM × 25 (the conversion to 25..100);
- mutu pelayanan by the converted value: A (Sangat Baik) 88,31–100,00; B (Baik) 76,61–88,30;
  C (Kurang Baik) 65,00–76,60; D (Tidak Baik) 25,00–64,99 (on the 1..4 scale: 3,5324–4,00; 3,0644–3,532;
  2,60–3,064; 1,00–2,5996).

The weight defaults to exactly 1/number of elements; an office that wants its old spreadsheets' figures sets
`weight: 0.111` in dialogues/rules/skm.yml (then nine 4s give 99,90 instead of 100,00).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

CONVERSION = 25
# (lowest converted value, grade, performance) — highest first
CATEGORIES: tuple[tuple[float, str, str], ...] = (
    (88.31, "A", "Sangat Baik"),
    (76.61, "B", "Baik"),
    (65.00, "C", "Kurang Baik"),
    (25.00, "D", "Tidak Baik"),
)


@dataclass(frozen=True)
class IkmResult:
    """The index of one service and period: per-element NRR, the index (1..4) and its 25..100 value."""

    nrr: dict[str, float]
    counts: dict[str, int]
    respondents: int
    index: float | None  # 1.00 .. 4.00
    value: float | None  # 25.00 .. 100.00
    grade: str | None  # A | B | C | D
    performance: str | None  # Sangat Baik | Baik | Kurang Baik | Tidak Baik


def nrr(scores: Iterable[int]) -> float | None:
    """Nilai rata-rata of one element; None when nobody answered it."""
    values = list(scores)
    if any(not 1 <= v <= 4 for v in values):
        raise ValueError("SKM scores are 1..4")
    return sum(values) / len(values) if values else None


def category(value: float) -> tuple[str, str]:
    """Mutu and kinerja of a converted IKM value (25..100), rounded to 2 decimals as the regulation prints."""
    rounded = round(value, 2)
    for lowest, grade, performance in CATEGORIES:
        if rounded >= lowest:
            return grade, performance
    return CATEGORIES[-1][1], CATEGORIES[-1][2]


def compute(elements: list[str], answers: Mapping[str, Iterable[int]], respondents: int,
            weight: float | None = None) -> IkmResult:
    """IKM from the scores per element (`answers[element]`). Elements nobody answered are left out of the
    sum and the weights of the others are kept equal (weight × number of answered elements = 1), so a
    partly answered survey period still gives a value on the 25..100 scale."""
    per_element = {key: list(answers.get(key, [])) for key in elements}
    means = {key: nrr(scores) for key, scores in per_element.items()}
    answered = {key: m for key, m in means.items() if m is not None}
    counts = {key: len(scores) for key, scores in per_element.items()}
    if not answered:
        return IkmResult({}, counts, respondents, None, None, None, None)
    if weight is None or len(answered) != len(elements):  # equal weights 1/n, summed without rounding error
        index = math.fsum(answered.values()) / len(answered)
    else:
        index = math.fsum(m * weight for m in answered.values())
    value = index * CONVERSION
    grade, performance = category(value)
    return IkmResult(answered, counts, respondents, index, value, grade, performance)
