"""The quote and signature stripper: each family of quote start, each kind of signature, and the
guarantee that matters most — the patient's own lines survive, and nothing is made up."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailgate.parse.quotes import reply_text

REPLY = "Slept better this week.\nThe breathing exercise helped on Tuesday."

CHECKIN = (
    "Hi Sam,\n"
    "\n"
    "A quick check-in: a number for each line, and anything else you would like\n"
    "to say.\n"
    "\n"
    "Mood (1-10):\n"
    "Stress (1-10):\n"
    "Anything else:\n"
    "\n"
    "-- \n"
    "Riverside Therapy\n"
    "This inbox is not monitored 24/7.\n"
)


def quoted(text: str) -> str:
    return "\n".join(f"> {line}".rstrip() for line in text.splitlines())


# --- attribution lines -----------------------------------------------------------------------

ATTRIBUTIONS = {
    "english": "On Mon, 3 Mar 2025 at 10:00, Riverside Therapy <reply+ab12@mail.example> wrote:",
    "german": "Am 03.03.2025 um 10:00 schrieb Praxis Am Fluss <praxis@mail.example>:",
    "german gmail": "Praxis Am Fluss <praxis@mail.example> schrieb am Mo., 3. März 2025, 10:00:",
    "french": "Le lun. 3 mars 2025 à 10:00, Cabinet Rivière <cabinet@mail.example> a écrit :",
    "spanish": "El lun, 3 mar 2025 a las 10:00, Consulta Río (<consulta@mail.example>) escribió:",
    "portuguese": "Em seg., 3 de mar. de 2025 às 10:00, Clínica <clinica@mail.example> escreveu:",
    "italian": "Il giorno lun 3 mar 2025 alle ore 10:00 Studio <studio@mail.example> ha scritto:",
    "dutch": "Op ma 3 mrt 2025 om 10:00 schreef Praktijk <praktijk@mail.example>:",
    "polish": "W dniu 3.03.2025 o 10:00, Gabinet <gabinet@mail.example> napisał:",
    "swedish": "mån 3 mars 2025 kl. 10:00 skrev Mottagningen <mottagning@mail.example>:",
    "danish": "Den 3. mar. 2025 kl. 10.00 skrev Klinikken <klinik@mail.example>:",
    "finnish": "ma 3.3.2025 klo 10.00 Vastaanotto <vastaanotto@mail.example> kirjoitti:",
    "japanese": "2025年3月3日(月) 10:00 リバーサイド <clinic@mail.example>:",
    "chinese": "在 2025年3月3日，上午10:00，河畔诊所 <clinic@mail.example> 写道：",
    "russian": "пн, 3 мар. 2025 г. в 10:00, Клиника <clinic@mail.example>:",
}


@pytest.mark.parametrize("attribution", ATTRIBUTIONS.values(), ids=list(ATTRIBUTIONS))
def test_attribution_above_a_quote(attribution: str) -> None:
    text = f"{REPLY}\n\n{attribution}\n{quoted(CHECKIN)}\n"
    assert reply_text(text) == REPLY


@pytest.mark.parametrize("attribution", ATTRIBUTIONS.values(), ids=list(ATTRIBUTIONS))
def test_attribution_above_an_unmarked_original(attribution: str) -> None:
    # Outlook and mobile Gmail put the original below the attribution without ">".
    text = f"{REPLY}\n\n{attribution}\n\n{CHECKIN}"
    assert reply_text(text) == REPLY


@pytest.mark.parametrize(
    "attribution",
    [
        "On Tue, 3 Mar 2020 at 10:00, Jane Doe <\njane@example.com> wrote:",
        "On Tue, 3 Mar 2020 at 10:00, Jane Doe <jane@example.com>\nwrote:",
        "On Tue, Mar 3, 2020 at 10:00 AM Riverside Therapy\n\n<\nmailto:r@example.com\n> wrote:",
        'Le 3 mars 2020 10:00, "Cabinet"\n<cabinet@example.fr>\na écrit :',
        "Jane Doe <jane@example.com> schrieb am Di., 3.\nMärz 2020 um 10:00 Uhr:",
        "2020-03-03 10:00 GMT+01:00 Jane Doe <\njane@example.com>:",
    ],
)
def test_wrapped_attribution(attribution: str) -> None:
    text = f"{REPLY}\n\n{attribution}\n\n> Hello Sam\n> How was the week?\n"
    assert reply_text(text) == REPLY


def test_attribution_inside_the_quote() -> None:
    text = f"{REPLY}\n> On 3 Mar 2025, at 10:00, Clinic <c@mail.example> wrote:\n>\n> Hello\n"
    assert reply_text(text) == REPLY


# --- Outlook header blocks -------------------------------------------------------------------

HEADERS = {
    "english": ("From", "Sent", "To", "Subject"),
    "german": ("Von", "Gesendet", "An", "Betreff"),
    "french": ("De", "Envoyé", "À", "Objet"),
    "spanish": ("De", "Enviado", "Para", "Asunto"),
    "italian": ("Da", "Inviato", "A", "Oggetto"),
    "dutch": ("Van", "Verzonden", "Aan", "Onderwerp"),
    "polish": ("Od", "Wysłano", "Do", "Temat"),
    "swedish": ("Från", "Skickat", "Till", "Ämne"),
    "danish": ("Fra", "Sendt", "Til", "Emne"),
    "chinese": ("发件人", "发送时间", "收件人", "主题"),
    "japanese": ("差出人", "送信日時", "宛先", "件名"),
}


def outlook_block(keys: tuple[str, str, str, str]) -> str:
    sender, sent, to, subject = keys
    return (
        f"{sender}: Riverside Therapy <reply+ab12@mail.example>\n"
        f"{sent}: Monday, 3 March 2025 10:00\n"
        f"{to}: Sam Patient\n"
        f"{subject}: Your weekly check-in\n"
    )


@pytest.mark.parametrize("keys", HEADERS.values(), ids=list(HEADERS))
@pytest.mark.parametrize("rule", ["", "________________________________\n"])
def test_outlook_header_block(keys: tuple[str, str, str, str], rule: str) -> None:
    text = f"{REPLY}\n\n{rule}{outlook_block(keys)}\n{CHECKIN}"
    assert reply_text(text) == REPLY


def test_outlook_block_with_starred_names_and_wrapped_sender() -> None:
    text = (
        f"{REPLY}\n\n *From:* Riverside Therapy\n <reply+ab12@mail.example>\n"
        "*Sent:* Monday, 3 March 2025 10:00\n*To:* Sam\n*Subject:* Check-in\n\nHello Sam\n"
    )
    assert reply_text(text) == REPLY


def test_a_date_label_alone_is_not_a_header_block() -> None:
    text = "Next appointment:\nDate: Tuesday 4 March\nTime: 10:00\nPlace: the usual room"
    assert reply_text(text) == text


# --- separators and forwards -----------------------------------------------------------------


@pytest.mark.parametrize(
    "separator",
    [
        "-----Original Message-----",
        "----- Original Message -----",
        "-------- Original Message --------",
        "-----Ursprüngliche Nachricht-----",
        "-----Message d'origine-----",
        "-----Mensaje original-----",
        "-----Messaggio originale-----",
        "-----Oorspronkelijk bericht-----",
        "-----Oprindelig meddelelse-----",
        "---------- Forwarded message ---------",
        "-------- Message transféré --------",
        "Begin forwarded message:",
        "Début du message réexpédié :",
    ],
)
def test_separator(separator: str) -> None:
    text = f"{REPLY}\n\n{separator}\nFrom: Clinic\nSubject: Check-in\n\n{CHECKIN}"
    assert reply_text(text) == REPLY


def test_a_ruled_heading_of_the_patients_own_is_not_a_separator() -> None:
    text = "My week\n\n------- Good things -------\nSlept well\nWalked twice"
    assert reply_text(text) == text


# --- ">" quotes ------------------------------------------------------------------------------


def test_trailing_quote_without_attribution_is_dropped() -> None:
    assert reply_text(f"{REPLY}\n\n{quoted(CHECKIN)}\n") == REPLY


def test_quote_the_patient_answers_below_is_kept() -> None:
    # No attribution: the patient quoted a line on purpose, to answer it.
    text = "> Try the breathing exercise twice a day\n\nI did, and it helped."
    assert reply_text(text) == text


def test_only_a_quote_with_attribution_is_an_empty_reply() -> None:
    text = f"On 3 Mar 2025, at 10:00, Clinic <c@mail.example> wrote:\n{quoted(CHECKIN)}"
    assert reply_text(text) == ""


def test_wrapped_quote_overflow_belongs_to_the_quote() -> None:
    text = (
        f"{REPLY}\n\nOn 3 Mar 2025, at 10:00, Clinic <c@mail.example> wrote:\n"
        "> A quick check-in: a number for each line, and anything else you would\n"
        "like to say.\n"
        "> Mood (1-10):\n"
    )
    assert reply_text(text) == REPLY


def test_interleaved_answers_are_kept() -> None:
    text = (
        "On Mon, 3 Mar 2025 at 10:00, Clinic <c@mail.example> wrote:\n"
        "> Mood (1-10):\n"
        "7\n"
        "> Stress (1-10):\n"
        "3, work was busy\n"
        "> Anything else:\n"
        "slept badly on Sunday\n"
        ">\n"
        "> -- \n"
        "> Riverside Therapy\n"
    )
    assert reply_text(text) == "7\n3, work was busy\nslept badly on Sunday"


def test_lowercase_answer_under_a_short_quoted_line_is_kept() -> None:
    text = (
        "On Mon, 3 Mar 2025 at 10:00, Clinic <c@mail.example> wrote:\n"
        "> Please reply by Friday.\n"
        "sure, will do\n"
        "> Riverside Therapy\n"
    )
    assert reply_text(text) == "sure, will do"


def test_bottom_posted_reply_keeps_the_text_under_the_quote() -> None:
    text = f"Hi,\nOn 3 Mar 2025, at 10:00, Clinic <c@mail.example> wrote:\n{quoted(CHECKIN)}\n\n{REPLY}"
    assert reply_text(text).split("\n") == ["Hi,", "", *REPLY.split("\n")]


# --- signatures and footers ------------------------------------------------------------------


def test_signature_delimiter() -> None:
    assert reply_text(f"{REPLY}\n\n-- \nSam Patient\n07700 900123\n") == REPLY
    assert reply_text(f"{REPLY}\n--\nSam\n") == REPLY


def test_double_dash_in_text_is_not_a_delimiter() -> None:
    text = "Two things:\n-- sleep is better\n-- work is still hard"
    assert reply_text(text) == text


@pytest.mark.parametrize(
    "footer",
    [
        "Sent from my iPhone",
        "Sent from my Galaxy",
        "Sent from my Samsung Galaxy smartphone.",
        "Get Outlook for Android",
        "Get Outlook for iOS<https://aka.ms/o0ukef>",
        "Sent from Yahoo Mail on Android",
        "Sent from Mail for Windows",
        "Envoyé de mon iPhone",
        "Von meinem iPhone gesendet",
        "Gesendet von Outlook für Android",
        "Enviado desde mi iPhone",
        "Enviado do meu iPhone",
        "Inviato da iPhone",
        "Verzonden vanaf mijn iPhone",
        "Skickat från min iPhone",
        "Sendt fra min iPad",
        "iPhoneから送信",
        "发自我的iPhone",
    ],
)
def test_mobile_footer(footer: str) -> None:
    assert reply_text(f"{REPLY}\n\n{footer}\n") == REPLY
    # Mobile clients put the original right under the footer, unmarked.
    assert reply_text(f"{REPLY}\n\n{footer}\n\n{CHECKIN}") == REPLY


def test_sentence_about_sending_is_not_a_footer() -> None:
    text = f"{REPLY}\n\nSent from my desk, which is quieter than the kitchen."
    assert reply_text(text) == text


def test_sign_off_with_name_is_a_signature() -> None:
    assert reply_text(f"{REPLY}\n\nKind regards,\nSam Patient\n") == REPLY
    assert reply_text(f"{REPLY}\n\nLiebe Grüße\nSam\n") == REPLY
    assert reply_text(f"{REPLY}\n-Sam\n") == REPLY


def test_sign_off_on_one_line_and_list_items_stay() -> None:
    text = f"{REPLY}\n\nThanks, Sam"
    assert reply_text(text) == text
    text = "Things I tried:\n- Breathing\n- Walking"
    assert reply_text(text) == text


# --- the template we sent --------------------------------------------------------------------


def test_template_lines_mark_an_unmarked_quote() -> None:
    # Some clients quote our message with neither ">" nor a header.
    text = f"{REPLY}\n\n{CHECKIN}"
    assert reply_text(text) != REPLY  # no evidence without the template: all kept
    assert reply_text(text, sent_text=CHECKIN) == REPLY


def test_answers_typed_into_the_unmarked_quoted_form_are_kept() -> None:
    form = CHECKIN.replace("Mood (1-10):", "Mood (1-10): 6").replace(
        "Anything else:", "Anything else:\nA hard week at work, but I kept going."
    )
    text = f"Answers below.\n\n{outlook_block(HEADERS['english'])}\n{form}"
    out = reply_text(text, sent_text=CHECKIN)
    assert out.startswith("Answers below.\n")
    assert "Mood (1-10): 6" in out
    assert "Anything else:\nA hard week at work, but I kept going." in out
    assert "Riverside Therapy" not in out
    assert "From:" not in out
    # Without the template the unmarked original is dropped whole, as any client quote is.
    assert reply_text(text) == "Answers below."


def test_answer_typed_into_a_quoted_line_is_kept() -> None:
    text = "On Mon, 3 Mar 2025 at 10:00, Clinic <c@mail.example> wrote:\n" + quoted(
        CHECKIN.replace("Mood (1-10):", "Mood (1-10): 7")
    )
    assert reply_text(text) == ""
    assert reply_text(text, sent_text=CHECKIN) == "> Mood (1-10): 7"


def test_labels_stay_above_interleaved_answers_when_the_template_is_known() -> None:
    text = (
        "On Mon, 3 Mar 2025 at 10:00, Clinic <c@mail.example> wrote:\n"
        "> Mood (1-10):\n7\n> Stress (1-10):\n3\n>\n> -- \n> Riverside Therapy\n"
    )
    assert reply_text(text, sent_text=CHECKIN) == "> Mood (1-10):\n7\n> Stress (1-10):\n3"


# --- the patient's text survives -------------------------------------------------------------

PATIENT_ONLY = """\
On Monday my sister wrote:
"you should rest more", and she was right.

Date: Tuesday
Mood (1-10): 6
Sleep (hours per night): 7h
In 2019 I wrote: things will get better.

-- first point: sleep
-- second point: work
> not a quote of yours, just a saying I like
Sent from my desk, which is quieter than the kitchen.
------- Plans -------
- walk on Saturday
- call Anna
Thanks
for listening"""


def test_patients_text_survives_whole() -> None:
    assert reply_text(PATIENT_ONLY) == PATIENT_ONLY


def test_patients_text_survives_above_a_quote() -> None:
    text = f"{PATIENT_ONLY}\n\nOn 3 Mar 2025, at 10:00, Clinic <c@mail.example> wrote:\n{quoted(CHECKIN)}"
    assert reply_text(text) == PATIENT_ONLY
    assert reply_text(text, sent_text=CHECKIN) == PATIENT_ONLY


@pytest.mark.parametrize(
    "text",
    [
        "Mood: 6\n\nOn 3 March 2025 my sister wrote:\nyou can do it\nand I believed her",
        "I emailed sam@example.com on 3/3 at 10:00:\nno answer yet\nstill waiting",
        "Week notes\n\nTo: myself\nFrom: me\nI need to rest more.",
        "De: mi parte, todo bien.\nA: veces me cuesta dormir.",
        "Envoyé avec amour\nà tous",
        "Gesendet mit Liebe\nvon mir",
        "Sent with love\nfrom Sam",
        "Sent from the hospital: I am OK.\nWill write more later.",
    ],
)
def test_prose_that_looks_like_a_quote_start_survives(text: str) -> None:
    assert reply_text(text) == text


@pytest.mark.parametrize("text", ["", "\n", "\r\n\r\n", "   \n\t\n"])
def test_empty_reply(text: str) -> None:
    assert reply_text(text) == ""


def test_crlf_line_endings() -> None:
    text = f"{REPLY}\n\nOn 3 Mar 2025, at 10:00, Clinic <c@mail.example> wrote:\n> Hi\n"
    assert reply_text(text.replace("\n", "\r\n")) == REPLY


# --- properties ------------------------------------------------------------------------------

FRAGMENTS = [
    *ATTRIBUTIONS.values(),
    *outlook_block(HEADERS["german"]).splitlines(),
    *CHECKIN.splitlines(),
    *quoted(CHECKIN).splitlines(),
    "-----Original Message-----",
    "Sent from my iPhone",
    "-- ",
    "--",
    "____",
    "Regards,",
    "-Sam",
    ">",
    "> > nested",
    "",
    "On 3 Mar 2025, at 10:00, Jane <",
    "jane@example.com> wrote:",
    "w=",
    "rote:",
]
LINES = st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=40))


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in re.split(r"\r\n|\r|\n", text)]


def _is_subsequence(part: list[str], whole: list[str]) -> bool:
    remaining = iter(whole)
    return all(any(line == candidate for candidate in remaining) for line in part)


@settings(max_examples=400, deadline=None)
@given(
    body=st.lists(LINES, max_size=30),
    newline=st.sampled_from(["\n", "\r\n"]),
    sent=st.one_of(st.none(), st.just(CHECKIN), st.text(max_size=60)),
)
def test_output_is_a_subsequence_of_the_input_lines(
    body: list[str], newline: str, sent: str | None
) -> None:
    text = newline.join(body)
    out = reply_text(text, sent_text=sent)
    assert isinstance(out, str)
    if out:
        assert _is_subsequence(_lines(out), _lines(text))


def test_subsequence_check_can_fail() -> None:
    assert _is_subsequence(["a", "c"], ["a", "b", "c"])
    assert not _is_subsequence(["c", "a"], ["a", "b", "c"])
    assert not _is_subsequence(["reply"], ["reply On 3 Mar 2025, Jane wrote:"])


def test_a_bare_attribution_above_a_dropped_quote_goes_with_it() -> None:
    assert reply_text("Mood: 7\n\nOn Mon, Care Team wrote:\n> Mood (1-10):\n") == "Mood: 7"
    # Without a quote below it, the same shape is the patient's prose.
    assert reply_text("My sister wrote:\nkeep going!") == "My sister wrote:\nkeep going!"
