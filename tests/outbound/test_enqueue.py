"""Composing and the policy gate: what a queued message looks like, and every refusal."""

from __future__ import annotations

import email
import email.policy
import json
import shutil
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import pytest
from jinja2 import Environment, FileSystemLoader
from sqlmodel import Session, select

from mailgate import addresses, suppression
from mailgate.app import App
from mailgate.directory import clinicians, patients
from mailgate.errors import InvalidInput
from mailgate.outbound import (
    Kind,
    OutboundRequest,
    OutboxResult,
    OutboxState,
    Purpose,
    clinician_notice,
    confirmation,
    enqueue,
    enqueue_many,
    form_request,
    opt_out_confirmation,
)
from mailgate.outbound.api import TABLE
from mailgate.outbound.compose import TEMPLATES_DIR, Composer, RenderError
from mailgate.outbound.lint import TemplateLintError, subject_problems, subject_templates
from mailgate.store.models import OutboxMessage, ReplyThread
from mailgate.tokens import TokenKind
from tests.conftest import Instance
from tests.outbound.conftest import ALEX, SAM, configure


def _body(msg: EmailMessage, kind: str = "plain") -> str:
    part = msg.get_body((kind,))
    assert part is not None
    return str(part.get_content())


def _raw(app: App, row_id: object) -> EmailMessage:
    with app.session(readonly=True) as session:
        row = session.get(OutboxMessage, row_id)
        assert row is not None
        raw = app.ring.open(row.raw_ct, table=TABLE, column="raw_ct", row_id=row.id)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


Build = Callable[[App, Session], OutboundRequest]


def _send(app: App, request_for: Build) -> OutboxResult:
    with app.session() as session:
        return enqueue(app, session, request_for(app, session))


def _form(email_address: str, form: str = "milestone") -> Build:
    return lambda app, session: form_request(patients.get(app, session, email_address), form)


def _row(app: App, row_id: object) -> OutboxMessage:
    with app.session(readonly=True) as session:
        row = session.get(OutboxMessage, row_id)
        assert row is not None
        return row


def test_a_form_request_carries_tokens_headers_and_footer(clinic: Instance, backend: str) -> None:
    app = clinic.app()
    result = _send(app, _form(SAM))
    assert result.state is OutboxState.QUEUED
    msg = _raw(app, result.id)
    assert msg["To"] == f"Sam Patient <{SAM}>"
    assert msg["Subject"] == "Your milestone log from Example Practice"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Message-ID"] == f"<{result.id.hex}@reply.example.org>"
    assert "Cc" not in msg
    signer = addresses.signer(app)
    token = signer.verify_address(msg["Reply-To"], domains=["reply.example.org"])
    assert token.kind is TokenKind.REPLY
    with app.session(readonly=True) as session:
        thread = session.get(ReplyThread, token.subject)
        assert thread is not None
        # The thread matches the message: its Message-ID (the fallback when +tokens are stripped)
        # and the text we sent (so the parser can recognise our own lines).
        assert thread.message_id == msg["Message-ID"]
        assert thread.form == "milestone" and thread.purpose == "milestones"
        sent = app.ring.open_text(
            thread.sent_text_ct or b"",
            table="reply_thread",
            column="sent_text_ct",
            row_id=thread.id,
        )
        assert "A milestone is any step forward" in sent and "Mood (1-10):" in sent
    row = _row(app, result.id)
    envelope = json.loads(
        app.ring.open(row.envelope_ct, table=TABLE, column="envelope_ct", row_id=row.id)
    )
    assert envelope["rcpts"] == [SAM]
    bounce = signer.verify_address(envelope["mail_from"], domains=["reply.example.org"])
    assert (bounce.kind, bounce.subject) == (TokenKind.BOUNCE, token.subject)
    assert msg["List-Unsubscribe"] == f"<mailto:{msg['Reply-To']}?subject=unsubscribe>"
    assert "List-Unsubscribe-Post" not in msg
    text = _body(msg)
    html = _body(msg, "html")
    for body in (text, html):
        assert "Hello Sam Patient," in body
        assert "If you are in crisis, call your local emergency number." in body
        assert "not monitored 24/7" in body
        assert "reply with the word STOP" in body


def test_one_click_unsubscribe_when_a_url_is_configured(clinic: Instance) -> None:
    configure(clinic, '[practice]\nunsubscribe_url = "https://clinic.example/u/{token}"')
    app = clinic.app()
    msg = _raw(app, _send(app, _form(SAM)).id)
    token = msg["Reply-To"].partition("+")[2].partition("@")[0]
    assert msg["List-Unsubscribe"] == (
        f"<https://clinic.example/u/{token}>, <mailto:{msg['Reply-To']}?subject=unsubscribe>"
    )
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_no_consent_is_refused_with_the_reason_and_no_content(clinic: Instance) -> None:
    app = clinic.app()
    result = _send(app, _form(ALEX))  # Alex has not consented to milestones
    assert result.state is OutboxState.REFUSED
    assert result.reason == "consent: no active consent for milestones"
    row = _row(app, result.id)
    assert (row.state, row.thread_id) == ("refused", None)
    assert app.ring.open(row.raw_ct, table=TABLE, column="raw_ct", row_id=row.id) == b""
    with app.session(readonly=True) as session:
        assert session.exec(select(ReplyThread)).all() == []


def test_revoked_consent_is_refused(clinic: Instance) -> None:
    clinic.ok("consent", "revoke", SAM, "--purpose", "milestones")
    app = clinic.app()
    assert _send(app, _form(SAM)).state is OutboxState.REFUSED


def test_transactional_mail_needs_no_consent_but_respects_suppression(clinic: Instance) -> None:
    app = clinic.app()

    def ack(app: App, session: Session) -> OutboundRequest:
        return confirmation(patients.get(app, session, ALEX), "checkin", ["Mood: not a number"])

    queued = _send(app, ack)
    assert queued.state is OutboxState.QUEUED
    body = _body(_raw(app, queued.id))
    assert "Mood: not a number" in body and "What we recorded" not in body

    def full(app: App, session: Session) -> OutboundRequest:
        alex = patients.get(app, session, ALEX)
        return OutboundRequest(
            Kind.CONFIRMATION,
            Purpose.SERVICE,
            patient=alex,
            form="checkin",
            context={
                "problems": ["Stress (1-10): missing"],
                "recorded": ["Mood (1-10): 7"],
                "repeat_form": True,
            },
        )

    body = _body(_raw(app, _send(app, full).id))
    assert "Mood (1-10): 7" in body and "Stress (1-10):\r\n" in body  # the form, to fill in again
    with app.session() as session:
        for _ in range(3):
            suppression.record_hard_bounce(app, session, ALEX, 3)
    refused = _send(app, ack)
    assert refused.reason == "suppressed: the address is suppressed after hard bounces"

    def opted_out(app: App, session: Session) -> OutboundRequest:
        return opt_out_confirmation(patients.get(app, session, ALEX), ["check-in emails"])

    # Even the confirmation of an opt-out: the address bounces.
    assert _send(app, opted_out).state is OutboxState.REFUSED


def test_an_opt_out_lets_through_only_its_own_confirmation(clinic: Instance) -> None:
    app = clinic.app()
    with app.session() as session:
        suppression.opt_out(app, session, SAM)

    def ack(app: App, session: Session) -> OutboundRequest:
        return confirmation(patients.get(app, session, SAM), "milestone")

    def opted_out(app: App, session: Session) -> OutboundRequest:
        return opt_out_confirmation(patients.get(app, session, SAM), ["milestone reminders"])

    form = _send(app, _form(SAM))
    assert (form.state, form.reason) == (
        OutboxState.REFUSED,
        "suppressed: the patient opted out of all automated email",
    )
    assert _send(app, ack).state is OutboxState.REFUSED
    assert _send(app, opted_out).state is OutboxState.QUEUED


def test_subjects_name_no_measure(clinic: Instance) -> None:
    clinic.ok("consent", "grant", SAM, "--purpose", "measures")
    app = clinic.app()
    for form in ("phq9", "gad7"):
        subject = str(_raw(app, _send(app, _form(SAM, form)).id)["Subject"])
        assert subject == "Your questionnaire from Example Practice"
        for word in ("phq", "gad", "depress", "anxi", "mood", "health"):
            assert word not in subject.lower()


def test_a_patient_named_inside_the_practice_name_is_not_refused(clinic: Instance) -> None:
    configure(clinic, '[practice]\nname = "Samuel Lee Therapy for Sam"')
    clinic.ok(
        "patient",
        "add",
        "anna@example.org",
        "--name",
        "Anna",
        "--clinician",
        "dr.lee@clinic.example",
    )
    clinic.ok("consent", "grant", "anna@example.org", "--purpose", "milestones")
    app = clinic.app()
    # "Sam Patient" and "Anna" appear in (or inside) the practice's own name, not as the recipient.
    assert _send(app, _form(SAM)).state is OutboxState.QUEUED
    assert _send(app, _form("anna@example.org")).state is OutboxState.QUEUED


def test_a_subject_naming_the_recipient_says_what_to_change(
    clinic: Instance, tmp_path: Path
) -> None:
    templates = tmp_path / "custom"
    (templates / "mail").mkdir(parents=True)
    # A practice's template that slips the name in through a context variable the lint allows.
    (templates / "mail" / "form.subject.j2").write_text("{{ form_title }} for Sam\n")
    configure(clinic, f'[practice]\ntemplates_dir = "{templates}"')
    app = clinic.app()
    result = _send(app, _form(SAM))
    assert result.reason == (
        "one_patient: the subject shows the recipient's name: reword the subject template "
        "(subjects may use only practice_name and form_title)"
    )


def test_a_greeting_naming_another_patient_is_refused(clinic: Instance) -> None:
    app = clinic.app()

    def wrong_name(app: App, session: Session) -> OutboundRequest:
        sam = patients.get(app, session, SAM)
        return OutboundRequest(
            Kind.FORM,
            Purpose.MILESTONES,
            patient=sam,
            form="milestone",
            context={"name": "Alex River"},
        )

    result = _send(app, wrong_name)
    assert result.reason == "one_patient: the greeting does not name the recipient"
    with app.session(readonly=True) as session:
        assert session.exec(select(ReplyThread)).all() == []  # the thread went with the refusal


def test_a_body_showing_another_address_is_refused(clinic: Instance) -> None:
    app = clinic.app()

    def leaky(app: App, session: Session) -> OutboundRequest:
        sam = patients.get(app, session, SAM)
        return OutboundRequest(
            Kind.CONFIRMATION,
            Purpose.SERVICE,
            patient=sam,
            form="milestone",
            context={"problems": [f"see {ALEX}"]},
        )

    result = _send(app, leaky)
    assert result.reason == "one_patient: the body shows an address that is not the recipient's"


def test_clinicians_hear_only_about_their_own_patients(clinic: Instance) -> None:
    app = clinic.app()

    def notice(about: str) -> Build:
        def build(app: App, session: Session) -> OutboundRequest:
            lee = clinicians.get(app, session, "dr.lee@clinic.example")
            patient = patients.get(app, session, about)
            return clinician_notice(lee, "A patient opted out of check-ins.", about=[patient.id])

        return build

    assert _send(app, notice(SAM)).state is OutboxState.QUEUED
    # Alex is Dr Okafor's patient, but a member of Dr Lee's Tuesday group: allowed.
    assert _send(app, notice(ALEX)).state is OutboxState.QUEUED
    clinic.ok("group", "leave", "Tuesday group", ALEX)
    refused = _send(app, notice(ALEX))
    assert (
        refused.reason == "own_patients: the message concerns a patient who is not this clinician's"
    )


def test_a_template_that_fails_to_render_refuses_the_message(
    clinic: Instance, tmp_path: Path
) -> None:
    broken = tmp_path / "templates"
    (broken / "forms").mkdir(parents=True)
    (broken / "forms" / "checkin.txt.j2").write_text("{{ no_such_variable }}\n")
    (broken / "forms" / "checkin.html.j2").write_text("<p>x</p>\n")
    configure(clinic, f'[practice]\ntemplates_dir = "{broken}"')
    clinic.ok("consent", "grant", SAM, "--purpose", "checkins")
    app = clinic.app()
    result = _send(app, _form(SAM, "checkin"))
    assert result.state is OutboxState.REFUSED
    assert result.reason == "render: template forms/checkin.txt.j2 line 1 failed: UndefinedError"
    # Only the form body was replaced: other forms still render from the built-in templates.
    assert _send(app, _form(SAM)).state is OutboxState.QUEUED


def test_a_missing_template_is_named(tmp_path: Path) -> None:
    shutil.copytree(TEMPLATES_DIR / "mail", tmp_path / "mail")  # the wrappers, but no form bodies
    composer = Composer([tmp_path])
    context = {"name": "x", "form": "phq9", "form_title": "t", "for_patient": True}
    context |= {"practice_name": "p", "crisis_line": "c"}
    with pytest.raises(RenderError, match=r"^template forms/phq9.txt.j2 is missing$"):
        composer.render(Kind.FORM, context)


def test_requests_pair_kinds_with_purposes(clinic: Instance) -> None:
    app = clinic.app()
    with app.session(readonly=True) as session:
        sam = patients.get(app, session, SAM)
        with pytest.raises(InvalidInput, match="its form's own purpose"):
            OutboundRequest(Kind.FORM, Purpose.SERVICE, patient=sam, form="milestone")
        with pytest.raises(InvalidInput, match="unknown form"):
            form_request(sam, "mood_diary")
        with pytest.raises(InvalidInput, match="exactly one patient or one clinician"):
            OutboundRequest(Kind.CONFIRMATION, Purpose.SERVICE)
        with pytest.raises(InvalidInput, match="digest messages go to clinicians only"):
            OutboundRequest(Kind.DIGEST, Purpose.STAFF, patient=sam)


def test_no_subject_template_may_use_patient_variables() -> None:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES_DIR)), autoescape=True)
    names = subject_templates(env)
    assert {f"mail/{kind}.subject.j2" for kind in Kind} <= set(names)
    for name in names:
        assert subject_problems(env, name) == [], name


def test_the_lint_refuses_a_subject_with_patient_data(tmp_path: Path) -> None:
    (tmp_path / "mail").mkdir()
    (tmp_path / "mail" / "form.subject.j2").write_text("Hi {{ name }}, your {{ form_title }}\n")
    with pytest.raises(TemplateLintError, match=r"mail/form.subject.j2 uses 'name'"):
        Composer([tmp_path, TEMPLATES_DIR])
    (tmp_path / "mail" / "form.subject.j2").write_text('{% include "mail/_footer.txt.j2" %}\n')
    with pytest.raises(TemplateLintError, match="includes another template"):
        Composer([tmp_path, TEMPLATES_DIR])


def test_names_outside_ascii_are_encoded_and_still_greeted(clinic: Instance) -> None:
    clinic.ok(
        "patient",
        "add",
        "zoe@example.org",
        "--name",
        "Zoë Ångström",
        "--clinician",
        "dr.lee@clinic.example",
    )
    clinic.ok("consent", "grant", "zoe@example.org", "--purpose", "checkins")
    app = clinic.app()
    msg = _raw(app, _send(app, _form("zoe@example.org", "checkin")).id)
    assert msg["To"] == "Zoë Ångström <zoe@example.org>"
    assert "Hello Zoë Ångström," in _body(msg) and "Hello Zoë Ångström," in _body(msg, "html")


def test_a_batch_is_judged_message_by_message_and_answered_in_order(
    clinic: Instance, backend: str
) -> None:
    """`enqueue_many` asks the gate's questions once for the batch, but each message still gets
    its own answer: the consented one is queued with its thread, the others refused with theirs."""
    clinic.ok("consent", "grant", ALEX, "--purpose", "milestones")
    app = clinic.app()
    with app.session() as session:
        for _ in range(3):
            suppression.record_hard_bounce(app, session, ALEX.upper(), 3)
    clinic.ok("consent", "grant", SAM, "--purpose", "checkins")
    with app.session() as session:
        sam, alex = patients.get(app, session, SAM), patients.get(app, session, ALEX)
        greeted_wrong = OutboundRequest(
            Kind.FORM, Purpose.MILESTONES, patient=sam, form="milestone", context={"name": "Alex"}
        )
        batch = [
            form_request(sam, "milestone"),
            form_request(alex, "milestone"),  # consented, but the address is suppressed
            form_request(alex, "checkin"),  # no consent for check-ins
            greeted_wrong,
            form_request(sam, "checkin"),
        ]
        results = enqueue_many(app, session, batch)
    assert [(r.state.value, r.reason) for r in results] == [
        ("queued", ""),
        ("refused", "suppressed: the address is suppressed after hard bounces"),
        ("refused", "consent: no active consent for checkins"),
        ("refused", "one_patient: the greeting does not name the recipient"),
        ("queued", ""),
    ]
    with app.session(readonly=True) as session:
        thread_ids = {t.id for t in session.exec(select(ReplyThread)).all()}
    assert thread_ids == {results[0].thread_id, results[4].thread_id}  # none for the refused
    assert _raw(app, results[4].id)["To"] == f"Sam Patient <{SAM}>"
    assert clinic.ok("audit", "verify").startswith("audit log intact")
