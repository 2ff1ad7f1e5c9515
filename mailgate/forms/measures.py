"""Scoring the standard measures: PHQ-9 and GAD-7 totals and severity bands.

A measure is scored only when every item is answered: a partial total would read as a lower score
than the patient has, so an incomplete form gets no total and no severity (DESIGN §4).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

# Severity bands: (lowest total of the band, name), ascending.
PHQ9_BANDS: tuple[tuple[int, str], ...] = (
    (0, "minimal"),
    (5, "mild"),
    (10, "moderate"),
    (15, "moderately_severe"),
    (20, "severe"),
)
GAD7_BANDS: tuple[tuple[int, str], ...] = (
    (0, "minimal"),
    (5, "mild"),
    (10, "moderate"),
    (15, "severe"),
)


@dataclass(frozen=True, slots=True)
class Score:
    total: int
    severity: str


def _score(
    items: Sequence[int | None], count: int, bands: tuple[tuple[int, str], ...]
) -> Score | None:
    if len(items) != count:
        raise ValueError(f"expected {count} items, got {len(items)}")
    answered: list[int] = []
    for item in items:
        if item is None:
            return None
        if isinstance(item, bool) or not 0 <= item <= 3:
            raise ValueError("items are scored 0 to 3")
        answered.append(item)
    total = sum(answered)
    severity = next(name for low, name in reversed(bands) if total >= low)
    return Score(total, severity)


def score_phq9(items: Sequence[int | None]) -> Score | None:
    """Total (0–27) and severity of nine PHQ-9 items, or None when any item is unanswered."""
    return _score(items, 9, PHQ9_BANDS)


def score_gad7(items: Sequence[int | None]) -> Score | None:
    """Total (0–21) and severity of seven GAD-7 items, or None when any item is unanswered."""
    return _score(items, 7, GAD7_BANDS)


SCORERS: dict[str, Callable[[Sequence[int | None]], Score | None]] = {
    "phq9": score_phq9,
    "gad7": score_gad7,
}
