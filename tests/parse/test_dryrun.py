"""`mailgate parse` never prints a traceback: a message the pipeline would quarantine is printed as
the contract JSON with one error about the whole message ("would be quarantined: …", the
pipeline's own reason), exit status 0; and what the reading budget cut short is reported too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mailgate.cli import cli
from mailgate.forms import get_form
from mailgate.ingest.dryrun import dry_run
from mailgate.parse.budget import MAX_CHARS, TOO_LONG
from mailgate.parse.read import FIELDS_NOT_READ, KEPT_WHOLE

HEAD = b"From: Sam <sam.patient@example.net>\nTo: reply+abc@reply.example.org\nSubject: Re: x\n"
KEYS = {"kind", "form", "fields", "errors", "alerts", "text"}

# A NUL inside an RFC 2231 parameter's charset: the stdlib raises ValueError decoding the header.
NUL_CHARSET = {
    "content-type charset": (b"Content-Type: text/plain; charset*=utf\x00-8''x\n", "decode"),
    "content-type charset only": (b"Content-Type: text/plain; charset*=\x00''x\n", "decode"),
    "content-type format": (b"Content-Type: text/plain; format*=\x00''flowed\n", "decode"),
    "content-type continuation": (b"Content-Type: text/plain; charset*0*=\x00''a\n", "decode"),
    "content-disposition filename": (
        b"Content-Type: text/plain\nContent-Disposition: inline; filename*=utf\x00-8''x\n",
        "extract",
    ),
}


def parse(path: Path, *options: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["parse", "--form", "checkin", str(path), *options])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return result.exit_code, result.output


@pytest.mark.parametrize("case", sorted(NUL_CHARSET))
def test_a_nul_in_an_rfc2231_charset_is_reported_as_quarantined(tmp_path: Path, case: str) -> None:
    header, step = NUL_CHARSET[case]
    if step == "extract":  # the disposition is read only below the top level
        header = b'Content-Type: multipart/mixed; boundary="b"\n\n--b\n' + header
    path = tmp_path / "reply.eml"
    path.write_bytes(HEAD + b"MIME-Version: 1.0\n" + header + b"\nMood (1-10): 7\n--b--\n")
    status, output = parse(path, "--json")
    assert status == 0
    data = json.loads(output)
    assert set(data) == KEYS
    reason = f"would be quarantined: step {step} failed: ValueError"
    assert data["errors"] == [{"field": "", "message": reason}]
    assert (data["fields"], data["alerts"], data["text"]) == ({}, [], "")
    status, output = parse(path)
    assert (status, "Traceback" in output) == (0, False)
    assert f"  ! {reason}\n" in output


def result(raw: bytes) -> dict[str, Any]:
    return dry_run(raw, get_form("checkin"))


def test_a_message_without_headers_would_be_quarantined() -> None:
    data = result(b"\nMood (1-10): 7\n")
    message = "would be quarantined: no headers: not an email message"
    assert data["errors"] == [{"field": "", "message": message}]
    assert data["fields"] == {}


def test_a_reply_with_nothing_in_it_would_be_quarantined() -> None:
    data = result(HEAD + b"\n\n")
    message = "would be quarantined: no text of the patient's own and no answers"
    assert data["errors"] == [{"field": "", "message": message}]


def test_a_reply_too_long_to_read_line_by_line_is_kept_whole_and_says_so() -> None:
    body = "Mood (1-10): 7\n" + "> quoted line of an old thread\n" * (MAX_CHARS // 30)
    data = result(HEAD + b"\n" + body.encode())
    assert data["text"] == body.strip()  # every word kept, quotes and all
    assert data["fields"] == {}  # and none guessed from it
    assert data["errors"] == [
        {"field": "", "message": f"{KEPT_WHOLE} ({TOO_LONG})"},
        {"field": "", "message": f"{FIELDS_NOT_READ} ({TOO_LONG})"},
    ]
