"""Recognising where quoted mail begins: attribution lines, header blocks and separators.

Mail clients introduce the message being answered in one of three ways, in every language:

* an **attribution line** ("On Tue, 3 Mar 2020 at 10:00, Jane <jane@example.com> wrote:", "Le … a écrit :",
  "Am … schrieb …:", "2016/11/08 14:26、Test <t@example.com> のメッセージ:"), often wrapped over
  two to five lines by the client;
* an **Outlook header block** ("From: / Sent: / To: / Subject:" and their translations), with or
  without a "____" rule above it;
* a **separator** ("-----Original Message-----", "---------- Forwarded message ---------",
  "Begin forwarded message:" and their translations).

Everything here works on one line's text with any ">" quote markers already removed, so the same
patterns find the start of a quote at any depth. Dates and addresses are the main evidence: a line
that merely ends in "wrote:" ("My sister wrote:") is not an attribution unless it also carries an
e-mail address or a full date, so patients' own sentences are left alone.

Every pattern here runs on every line of every reply, and a hostile reply can be one long line, so
each is linear in what it scans: no two neighbouring quantifiers can share a character unless the
first is possessive (`*+`), a search that could start anywhere inside a run starts only at the
run's first character, and a line longer than the longest thing being looked for is not looked at
(`MAX_HEADER_LINE_CHARS`, `_MAX_ATTRIBUTION_CHARS`, `_MAX_SEPARATOR_CHARS`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# --- evidence: addresses, dates, times -------------------------------------------------------

# An address starts only where its run of address characters starts (the lookbehind): tried at
# every position of a long word, "word@" would rescan the rest of the word each time.
_EMAIL = re.compile(r"(?<![\w.+'=-])[\w.+'=-]++@[\w-]++(?:\.[\w-]++)+")
_BRACKETED_EMAIL = re.compile(r"[<(\[]\s*+(?:mailto:)?[\w.+'=-]++@[\w-]++(?:\.[\w-]++)+")
# Lookarounds instead of \b: in CJK text ("2016年11月8日") digits touch letters.
_TIME = re.compile(r"(?<!\d)\d{1,2}[:.h]\d{2}(?!\d)")  # 10:00, 20.42 (Nordic), 10h30 (French)
_NUMERIC_DATE = re.compile(r"(?<!\d)\d{1,4}[./-]\s?\d{1,2}[./-]\s?\d{1,4}(?!\d)")
_YEAR = re.compile(r"(?<!\d)(?:19|20)\d{2}(?!\d)")
# Gmail's old style starts with an ISO-like date: "2014-03-20 8:48 GMT+01:00 Name <addr>:".
_LEADING_DATE = re.compile(r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b")
_GMT = re.compile(r"\bGMT[+-]\d")


def _has_email(text: str) -> bool:
    return "@" in text and _EMAIL.search(text) is not None  # the "@" test is the cheap one


def _has_evidence(text: str) -> bool:
    return bool(_has_email(text) or _TIME.search(text) or _has_full_date(text))


def _has_full_date(text: str) -> bool:
    """A numeric date or a year: what separates "On 3 May 2017, X wrote:" from prose."""
    return bool(_NUMERIC_DATE.search(text) or _YEAR.search(text))


# --- attribution lines -----------------------------------------------------------------------

# The verb that ends an attribution ("… wrote:"), by language. Latin-script verbs need a word
# boundary before them; CJK verbs follow a name directly.
_WROTE_BY_LANGUAGE: dict[str, tuple[str, ...]] = {
    "English": ("wrote", "writes", "sent"),
    "French": ("a écrit", "écrit", "a ecrit"),
    "German": ("schrieb", "geschrieben"),
    "Spanish, Catalan": ("escribió", "escribio", "ha escrit"),
    "Portuguese": ("escreveu",),
    "Italian": ("ha scritto", "scrisse"),
    "Dutch": ("schreef", "het volgende geschreven"),
    "Polish": ("napisał", "napisał(a)", "napisała", "pisze"),
    "Czech, Slovak": ("napsal", "napsala", "napísal"),
    "Nordic": ("skrev", "skrev følgende", "kirjoitti"),
    "Russian, Ukrainian": ("написал", "написал(а)", "написала", "написав", "пише", "пишет"),
    "Hungarian, Turkish, Romanian": ("írta", "yazdı", "a scris"),
    "Greek, Vietnamese, Indonesian": ("έγραψε", "đã viết", "menulis"),
}
_WROTE_CJK = ("写道", "寫道", "のメッセージ", "書きました", "작성")
_WROTE = tuple(
    verb.casefold() for verbs in (*_WROTE_BY_LANGUAGE.values(), _WROTE_CJK) for verb in verbs
)
_TRAILING_PUNCTUATION = " \t:："


def ends_with_verb(text: str) -> bool:
    """Whether `text` ends with an attribution verb and at most a colon ("… a écrit :")."""
    tail = text.rstrip(_TRAILING_PUNCTUATION).casefold()
    if not tail.endswith(_WROTE):  # one C-level test for the common case
        return False
    for verb in _WROTE:
        if tail.endswith(verb):
            before = tail[-len(verb) - 1 : -len(verb)]
            if verb in _WROTE_CJK or not before.isalnum():
                return True
    return False


# German and others can put the name after the verb: "Am 25.06.2015 um 10:55 schrieb Jane:".
_WROTE_INSIDE = re.compile(
    r"(?<!\w)(?:schrieb|skrev|schreef|a écrit|escribió|escreveu|ha scritto|napisał)(?!\w)",
    re.IGNORECASE,
)
# Words that open a localised "On <date>, <name> wrote:".
_LEAD = re.compile(
    r"^(?:on|at|am|le|el|em|il|in data|op|den|på|w dniu|dnia|vào|pada)(?!\w)|^在", re.IGNORECASE
)
_ENDS_WITH_COLON = re.compile(r"[:：]\s*+$")
_DASHES = "-–—"

_MAX_ATTRIBUTION_CHARS = 300
_MAX_FIRST_LINE_CHARS = 200
_SENTENCE_END = re.compile(r"[^\W\d]\.$")
_MAX_ATTRIBUTION_LINES = 5


def _dash_wrapped(text: str) -> str | None:
    """The text inside "---- On …, Jane wrote ----" (two or more dashes each side), or None.

    Written with `str.strip` rather than as `^-{2,}\\s*(.*?)\\s*-{2,}$`: that pattern tries every
    split of a run of spaces between its three overlapping parts, cubic in the run's length.
    """
    inner = text.strip(_DASHES)
    if not inner:  # dashes only: "----" is two rules around nothing
        return "" if len(text) >= 4 else None
    leading = len(text) - len(text.lstrip(_DASHES))
    trailing = len(text) - len(text.rstrip(_DASHES))
    return inner.strip() if leading >= 2 and trailing >= 2 else None


def is_attribution(text: str) -> bool:
    """Whether `text` (one line, or a wrapped attribution joined into one) introduces a quote."""
    text = text.strip().strip("*_").strip()
    if not text or len(text) > _MAX_ATTRIBUTION_CHARS:
        return False
    inner = _dash_wrapped(text)
    if inner is not None:
        # Inside dashes the verb alone is enough: nobody frames their own prose that way.
        return ends_with_verb(inner) or is_attribution(inner)
    # An attribution ends with its verb or a colon, or starts with a date; most lines do none of
    # these, and are let go before the evidence is looked for.
    verb = ends_with_verb(text)
    colon = not verb and _ENDS_WITH_COLON.search(text) is not None
    if not (verb or colon or _LEADING_DATE.match(text)):
        return False
    # An address in brackets ("Jane <jane@example.com>") is a client's doing; patients write
    # addresses bare. Without one, a full date with a time or a comma ("On 3 May 2017, Jane
    # wrote:") is needed, which "In 2019 my sister wrote:" lacks.
    addressed = bool(_BRACKETED_EMAIL.search(text))
    dated = _has_full_date(text) and bool(_TIME.search(text) or "," in text)
    if verb:
        return addressed or dated or bool(_has_email(text) and _TIME.search(text))
    # "ср, 30 апр. 2025 г. в 15:19, John <j@example.com>:" needs no verb in any language.
    if colon and (
        (addressed and (_TIME.search(text) or _has_full_date(text)))
        or (_LEAD.search(text) and _WROTE_INSIDE.search(text) and dated)
    ):
        return True
    # "2013/7/20 Jane via Example <info@example.org>", "2016-03-03 17:21 GMT+01:00 Some One".
    return bool(_LEADING_DATE.match(text) and (addressed or _GMT.search(text)))


def _could_start_attribution(text: str) -> bool:
    """Whether a line could be the first of a wrapped attribution: a date, time or address in it."""
    stripped = text.strip()
    # A sentence ends with "." after a word; "schrieb am Fr., 28." wraps inside a date.
    if not stripped or len(stripped) > _MAX_FIRST_LINE_CHARS or stripped[-1] in "!?":
        return False
    if _SENTENCE_END.search(stripped):
        return False
    return _has_evidence(stripped)


def _join(parts: Sequence[str]) -> str:
    """Join wrapped lines; a quoted-printable soft break ("w=" + "rote:") joins without a space."""
    out = ""
    for part in parts:
        piece = part.strip()
        if out.endswith("="):
            out = out[:-1] + piece
        elif piece:
            out = f"{out} {piece}" if out else piece
    return out


def attribution_span(contents: Sequence[str], start: int) -> int:
    """How many lines from `start` form an attribution (0 if none).

    Clients wrap long attributions, sometimes around the address ("Jane <\\njane@example.com>
    wrote:") and sometimes with a blank line inside, so up to five lines are joined. A wrapped
    attribution must open like one (a date, time or address in its first line) and must carry an
    address or open with a localised "On", so prose that happens to end in "wrote:" is not taken.
    """
    if is_attribution(contents[start]):
        return 1
    if not _could_start_attribution(contents[start]):
        return 0
    stop = min(len(contents), start + _MAX_ATTRIBUTION_LINES)
    for end in range(start + 2, stop + 1):
        tail = contents[end - 1].strip()
        if not tail:
            if not contents[end - 2].strip():
                break  # two blank lines: whatever this was has ended
            continue
        if tail[-1] in ".!?" or len(tail) > _MAX_ATTRIBUTION_CHARS:
            break  # (no join with a line that long can be short enough)
        if tail[-1] not in ":：" and not ends_with_verb(tail):
            continue  # an attribution ends with a colon or its verb
        joined = _join(contents[start:end])
        if len(joined) > _MAX_ATTRIBUTION_CHARS:
            break
        if is_attribution(joined) and (_has_email(joined) or _LEAD.search(joined)):
            return end - start
    return 0


# --- Outlook header blocks -------------------------------------------------------------------

# Header names by role, in the languages Outlook, Apple Mail, Thunderbird and webmails use.
# fmt: off
_HEADER_KEYS: dict[str, tuple[str, ...]] = {
    "from": (
        "From", "Von", "De", "Da", "Van", "Od", "Från", "Fra", "Frá", "Lähettäjä", "Від", "От",
        "Feladó", "Kimden", "Από", "Expéditeur", "Remetente", "Mittente", "Afzender", "Nadawca",
        "Avsändare", "Afsender", "Avsender", "Odesílatel", "发件人", "發件人", "寄件者",
        "寄件人", "差出人", "보낸 사람",
    ),
    "date": (
        "Sent", "Date", "Datum", "Gesendet", "Envoyé", "Envoyé le", "Enviado", "Enviada",
        "Enviado el", "Inviato", "Data", "Verzonden", "Verstuurd", "Wysłano", "Wysłane",
        "Skickat", "Sendt", "Lähetetty", "Päivämäärä", "Отправлено", "Дата", "Надіслано",
        "Elküldve", "Dátum", "Gönderildi", "Tarih", "Στάλθηκε", "Odesláno", "Fecha",
        "Message du", "发送时间", "發送時間", "时间", "日期", "寄件日期", "送信日時", "日時",
        "보낸 날짜",
    ),
    "to": (
        "To", "An", "À", "A", "Para", "Aan", "Do", "Till", "Til", "Vastaanottaja", "Кому",
        "Címzett", "Kime", "Προς", "Komu", "Pour", "Destinatario", "收件人", "宛先", "받는 사람",
    ),
    "cc": ("Cc", "Bcc", "Kopie", "Copie à", "Cópia", "Kopia", "Kopio", "Копия", "抄送", "副本", "참조"),
    "subject": (
        "Subject", "Betreff", "Objet", "Sujet", "Asunto", "Assunto", "Oggetto", "Onderwerp",
        "Temat", "Ämne", "Emne", "Aihe", "Тема", "Tárgy", "Konu", "Θέμα", "Předmět", "主题",
        "主旨", "件名", "제목",
    ),
    "reply-to": ("Reply-To", "Répondre à", "Risposta", "Antwort an", "Responder a"),
}
# fmt: on
_ROLE_OF = {key.casefold(): role for role, keys in _HEADER_KEYS.items() for key in keys}
# "*From:* Jane", "De : Jane", "Envoyé le :jeudi", "Date: \tFri, …", "发件人: …", "件名：…".
_HEADER_LINE = re.compile(
    r"^\s*+\**+\s*+(?P<key>"
    + "|".join(re.escape(k) for k in sorted(_ROLE_OF, key=len, reverse=True))
    + r")\s*+\**+\s*+[:：]",
    re.IGNORECASE,
)
# A header's name and colon come first on its line; this much of a line is enough to find them.
MAX_HEADER_LINE_CHARS = 200
_HEADER_DEFINING_ROLES = frozenset({"from", "date", "subject"})
_MAX_HEADER_LINES = 14


def header_role(text: str) -> str | None:
    """The role ("from", "date", "to", …) of a header line such as "Gesendet: Montag", or None."""
    match = _HEADER_LINE.match(text, 0, MAX_HEADER_LINE_CHARS)
    return _ROLE_OF.get(match.group("key").casefold()) if match else None


class LineRoles:
    """The `header_role` of each of `contents`, worked out once per line when first asked for.

    A header block check looks up to 14 lines ahead, so without this a reply made of header-like
    lines had each line's role worked out 14 times.
    """

    def __init__(self, contents: Sequence[str]) -> None:
        self._contents = contents
        self._roles: list[str | None] = [""] * len(contents)  # "": not worked out yet

    def __getitem__(self, index: int) -> str | None:
        role = self._roles[index]
        if role == "":
            role = self._roles[index] = header_role(self._contents[index])
        return role


def header_block_length(
    contents: Sequence[str], start: int, *, quoted: bool = False, roles: LineRoles | None = None
) -> int:
    """The number of lines of the header block starting at `start`, or 0 if there is none.

    A block needs two different headers close together (one of them From, Sent/Date or Subject)
    and an address or a date in it, or three headers; a single "Date:" in a patient's note is not
    a block. Values may wrap onto a following line and
    blank lines may separate headers. An unquoted lone "From: <address>" also counts: clients put
    it above a forwarded or quoted message, and patients do not write it themselves. `roles` are
    the lines' roles when the caller keeps them (`LineRoles(contents)`).
    """
    if roles is None:
        roles = LineRoles(contents)
    role = roles[start]
    if role is None:
        return 0
    found = {role}
    last = start
    blank_run = text_run = 0
    index = start + 1
    while index < len(contents) and index - start < _MAX_HEADER_LINES:
        text = contents[index]
        next_role = roles[index]
        if next_role is not None:
            found.add(next_role)
            last = index
            blank_run = text_run = 0
        elif not text.strip():
            blank_run += 1
            if blank_run > 2:
                break
        else:
            text_run += 1
            if text_run > 2 or blank_run:
                break  # a wrapped value follows its header directly
        index += 1
    # "To: myself / From: me" in a diary is not a header block: real ones carry an address or a
    # date, or have three or more headers.
    if (
        len(found) >= 2
        and found & _HEADER_DEFINING_ROLES
        and (len(found) >= 3 or _has_evidence(" ".join(contents[start : last + 1])))
    ):
        return last - start + 1
    if not quoted and role == "from" and _has_email(contents[start]):
        return 1
    return 0


# --- separators ------------------------------------------------------------------------------

# "-----Original Message-----", "-------- Message transféré --------", "*----- Mensaje original
# -----*": a dash, underscore or equals rule on both sides of a short phrase with one of these words.
_RULE = "-=_"
_RULE_RUN = re.compile(r"[-=_]*+")
_SPACE_RUN = re.compile(r"\s*+")
_FRAME_RUN = re.compile(r"[\s*]*+")  # spaces and the stars of "*----- Mensaje original -----*"
_MAX_PHRASE_CHARS = 61
_MAX_SEPARATOR_CHARS = 300
_SEPARATOR_WORDS = re.compile(
    r"original|origine|reply message|antwort nachricht|ursprüngliche|ursprungligt|oprindelig"
    r"|opprinnelig|oorspronkelijk|alkuperäinen|oryginaln|původní|исходное|eredeti|원본"
    r"|forwarded|weitergeleitet|transféré|reenviado|inoltrato|doorgestuurd|encaminhad"
    r"|przekazan|vidarebefordrat|videresendt|välitetty|пересылаемое|переслан"
    r"|原始|转发|轉寄|元のメッセージ|転送",
    re.IGNORECASE,
)
# Apple Mail and others announce a forward without rules.
_FORWARD_LINE = re.compile(
    r"^[\s*]*(?:begin forwarded message|forwarded message|début du message réexpédié"
    r"|anfang der weitergeleiteten nachricht|inicio del mensaje reenviado|messaggio inoltrato"
    r"|doorgestuurd bericht|mensagem encaminhada|vidarebefordrat meddelande"
    r"|videresendt (?:meddelelse|melding)|przekazana wiadomość)\s*+[:：]?+[\s*]*+$",
    re.IGNORECASE,
)


def _ruled_phrase(line: str) -> str | None:
    """The phrase between the rules of a stripped line such as "-----Original Message-----".

    This is the first match of `^[\\s*]*[-=_]{2,}\\s*(?P<phrase>[^-=_].{0,60}?)\\s*[-=_]{2,}[\\s*]*$`,
    worked out from the runs at both ends of the line instead: as a pattern, the phrase and the
    spaces on either side of it overlap, and a run of spaces made it cubic. The closing rule must
    end where the line's trailing spaces and stars begin, so the phrase may end anywhere from the
    spaces before that rule to two characters before its end; the phrase starts after the opening
    rule and its spaces (or, failing that, inside those spaces), and is as short as possible.
    """
    start = _match_end(_FRAME_RUN, line, 0)
    rule_end = _match_end(_RULE_RUN, line, start)
    if rule_end - start < 2:
        return None
    back = line[::-1]  # the runs at the end of the line, read backwards
    frame = _match_end(_FRAME_RUN, back, 0)
    rule = _match_end(_RULE_RUN, back, frame) - frame
    if rule < 2:
        return None
    spaces = _match_end(_SPACE_RUN, back, frame + rule) - frame - rule
    latest_end = len(line) - frame - 2
    earliest_end = latest_end + 2 - rule - spaces
    space_end = _match_end(_SPACE_RUN, line, rule_end)
    for begin in range(space_end, rule_end - 1, -1):
        if begin == space_end and (begin == len(line) or line[begin] in _RULE):
            continue  # the phrase cannot start with a rule character
        end = max(earliest_end, begin + 1)
        if end <= min(latest_end, begin + _MAX_PHRASE_CHARS):
            return line[begin:end]
    return None


def _match_end(pattern: re.Pattern[str], text: str, pos: int) -> int:
    match = pattern.match(text, pos)
    return pos if match is None else match.end()


def is_separator(text: str) -> bool:
    """An "Original Message" or "Forwarded message" line: the rest of the mail is not the reply."""
    line = text.strip()
    if len(line) > _MAX_SEPARATOR_CHARS:
        return False  # a rule, a phrase of at most 61 characters and a rule
    if _FORWARD_LINE.match(line):
        return True
    phrase = _ruled_phrase(line)  # (None at once for a line that does not start with a rule)
    return phrase is not None and _SEPARATOR_WORDS.search(phrase) is not None
