"""End to end over every client fixture: body, the patient's own text and the form's fields, read
exactly as the ingest pipeline reads them (`mailgate parse`'s dry run)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mailgate.forms import get_form
from mailgate.ingest.dryrun import dry_run

FIXTURES = Path(__file__).parent / "fixtures"
CASES = sorted(path.stem for path in FIXTURES.glob("*.eml"))


@pytest.mark.parametrize("name", CASES)
def test_client_reply_reads_as_expected(name: str) -> None:
    expected: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text("utf-8"))
    result = dry_run((FIXTURES / f"{name}.eml").read_bytes(), get_form("milestone"))
    assert result["kind"] == "reply"
    want = {k: v for k, v in expected["fields"].items() if v is not None}
    assert result["fields"] == want
    # The quoted form never survives into the patient's own text.
    assert "Your clinician asked you to log a milestone" not in result["text"]
