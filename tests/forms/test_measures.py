"""PHQ-9 and GAD-7 scoring: totals, every band boundary, and no score for an incomplete form."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailgate.forms import Score, score_gad7, score_phq9


def items_totalling(total: int, count: int) -> list[int]:
    items = []
    for _ in range(count):
        items.append(min(3, total))
        total -= items[-1]
    assert total == 0
    return items


@pytest.mark.parametrize(
    ("total", "severity"),
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "moderately_severe"),
        (19, "moderately_severe"),
        (20, "severe"),
        (27, "severe"),
    ],
)
def test_phq9_bands(total: int, severity: str) -> None:
    assert score_phq9(items_totalling(total, 9)) == Score(total, severity)


@pytest.mark.parametrize(
    ("total", "severity"),
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "severe"),
        (21, "severe"),
    ],
)
def test_gad7_bands(total: int, severity: str) -> None:
    assert score_gad7(items_totalling(total, 7)) == Score(total, severity)


def test_incomplete_forms_have_no_score() -> None:
    assert score_phq9([3, 3, 3, 3, 3, 3, 3, 3, None]) is None
    assert score_phq9([None] * 9) is None
    assert score_gad7([0, None, 0, 0, 0, 0, 0]) is None


@pytest.mark.parametrize(
    "items", [[0] * 8, [0] * 10, [4, 0, 0, 0, 0, 0, 0, 0, 0], [-1] + [0] * 8, [True] + [0] * 8]
)
def test_invalid_items_are_a_programming_error(items: list[int]) -> None:
    with pytest.raises(ValueError, match="items"):
        score_phq9(items)


@given(st.lists(st.integers(0, 3), min_size=9, max_size=9))
def test_phq9_total_is_the_sum_and_bands_are_monotone(items: list[int]) -> None:
    score = score_phq9(items)
    assert score is not None and score.total == sum(items)
    order = ["minimal", "mild", "moderate", "moderately_severe", "severe"]
    assert order.index(score.severity) == min(sum(items) // 5, 4)
