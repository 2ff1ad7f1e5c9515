"""No patient data in logs: addresses are masked and content fields dropped, whatever the caller does."""

from __future__ import annotations

import io
import json

from mailgate.log import configure, get_logger
from tests.conftest import Instance


def test_redaction_processor_masks_addresses_and_content_fields() -> None:
    stream = io.StringIO()
    configure("info", "json", stream)
    get_logger("mailgate.test").info(
        "received from sam.patient@example.org",
        peer="127.0.0.1",
        name="Sam Patient",
        subject="About my week",
        items=["x", "alex@example.net"],
    )
    record = json.loads(stream.getvalue())
    assert record["event"] == "received from [redacted]"
    assert record["name"] == record["subject"] == "[redacted]"
    assert record["items"] == ["x", "[redacted]"]
    assert record["peer"] == "127.0.0.1"
    assert record["logger"] == "mailgate.test"


def test_a_session_logs_no_patient_data(practice: Instance) -> None:
    results = [
        practice.cli("-v", "patient", "show", "sam.patient@example.org"),
        practice.cli("-v", "patient", "show", "nobody@example.org"),
        practice.cli(
            "-v", "consent", "revoke", "sam.patient@example.org", "--purpose", "milestones"
        ),
        practice.cli(
            "-v",
            "patient",
            "add",
            "sam.patient@example.org",
            "--name",
            "Sam Patient",
            "--clinician",
            "dr.lee@clinic.example",
        ),
    ]
    logged = "".join(result.stderr for result in results)
    assert "action=patient.show" in logged  # the commands did log
    assert "action=consent.revoke" in logged
    for secret in ("sam.patient", "Sam Patient", "nobody@"):
        assert secret not in logged
