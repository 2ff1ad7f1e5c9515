"""Recognising the end of what a patient wrote: signatures, mobile footers and list footers.

Three kinds of line end a reply even when no quoted mail follows:

* the signature delimiter "-- " (RFC 3676 §4.3; many clients drop the trailing space);
* a mobile or webmail footer ("Sent from my iPhone", "Von meinem iPhone gesendet",
  "Get Outlook for Android", "iPhoneから送信" …), which mobile clients also put right above the
  unmarked original message;
* an underscore rule above a short mailing-list or disclaimer footer.

Lines made only of rule characters ("----", "====", Gmail's "ᐧ" tracker) are trimmed from the end of
a reply. Footers are matched as whole lines, so "Sent from my desk, which is easier than my phone."
stays: it is the patient talking, not the phone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

_SIGNATURE_DELIMITER = re.compile(r"^--\s*$")

# The footer patterns run on every line of a reply (up to `_MAX_FOOTER_CHARS` of it), so runs that
# neighbouring parts could share are possessive (`*+`, `++`): tried split by split, a run of spaces
# or dots made them quadratic. So a device name is read whole up to a link glued to it, and the
# leading brackets and stars are never the device: "Sent from my iPhone.sorry" no longer finds
# "sorry" inside the word, nor "(から送信" a device called "(" — neither is a client's footer.
# A footer may end with the link the client appends ("Get Outlook for iOS<https://aka.ms/…>").
_LINK = r"(?:\s*+(?:[<(\[]\s*+)?https?://\S*+)?"
_EXCUSE = r"(?:[.,!;]?\s*(?:please )?(?:excuse|pardon|sorry)\b.*)?"
_WORD = r"(?:(?!https?://)[\w'’®.-])++"
_DEVICE = _WORD + r"(?:\s++" + _WORD + "){0,5}"


def _footers(*bodies: str) -> re.Pattern[str]:
    """One pattern for all the footer forms (one regex call per line instead of one per form)."""
    either = "|".join(f"(?:{body})" for body in bodies)
    return re.compile(r"^[\s(<*_]*+(?:" + either + ")" + _LINK + r"[\s)>*_!.]*+$", re.IGNORECASE)


# "Sent from my …" and its translations name the patient's own device: formulaic enough to trust.
_POSSESSIVE_FOOTERS = _footers(
    # English: "Sent from my iPhone", "Sent wirelessly from my BlackBerry device on the Bell
    # network.", "Sent from my cell, please excuse any typos."
    r"sent (?:wirelessly )?from my " + _DEVICE + _EXCUSE,
    r"get \[?outlook for (?:ios|android)\]?(?:\(\S*\))?\S*+",
    r"envoyé (?:sans fil )?(?:de|depuis|à partir de|par) (?:mon|ma) " + _DEVICE,  # French
    r"von meinem " + _DEVICE + r" gesendet",  # German
    r"gesendet (?:von|mit|vom) (?:meinem|meiner) " + _DEVICE,
    r"diese nachricht wurde von meinem " + _DEVICE + r" gesendet",
    r"enviado (?:desde|do|de) (?:mi|meu|minha) " + _DEVICE,  # Spanish, Portuguese
    r"inviato dal mio " + _DEVICE,  # Italian
    r"(?:verzonden|verstuurd) (?:vanaf|van|met|vanuit) mijn " + _DEVICE,  # Dutch
    r"(?:skickat från|sendt fra) (?:min|mitt) " + _DEVICE,  # Swedish, Danish, Norwegian
    r"wysłane (?:z|ze) mojego " + _DEVICE,  # Polish
    r"отправлено (?:с|из) моего " + _DEVICE,  # Russian
    r"(?:发自|來自|来自)我的\s*+\S++",  # Chinese
    r"從我的\s*\S+\s*傳送",
    r"\S+\s*から送信",  # Japanese
    r"\S+에서 보냄",  # Korean
)
# Shorter forms ("Sent with Airmail", "Inviato da iPhone", "Gesendet von Outlook für Android")
# count only when they name a device or a mail app: "Envoyé avec amour" is the patient's.
_APP_FOOTERS = _footers(
    r"sent (?:from|with|via|using|by) " + _DEVICE,
    r"envoyé (?:de|depuis|à partir de|par|avec) " + _DEVICE,
    r"gesendet (?:von|mit|vom) " + _DEVICE,
    r"enviado (?:desde|do|de|con|com) " + _DEVICE,
    r"inviato (?:da|dal|con) " + _DEVICE,
    r"(?:verzonden|verstuurd) (?:vanaf|van|met|vanuit) " + _DEVICE,
    r"(?:skickat från|sendt fra) " + _DEVICE,
    r"lähetetty " + _DEVICE,
    r"wysłane (?:z|ze) " + _DEVICE,
    r"odesláno z " + _DEVICE,
    r"отправлено (?:с|из) " + _DEVICE,
)
_DEVICE_OR_APP = re.compile(
    r"iphone|ipad|ipod|android|blackberry|galaxy|samsung|huawei|xiaomi|pixel|nokia|motorola|"
    r"htc|xperia|oneplus|wiko|mobil|móvil|movil|celular|cellulare|phone|telefon|telefoon|"
    r"téléphone|smartphone|handy|tablet|device|outlook|yahoo|gmail|aol|mail|proton|spark|"
    r"airmail|sparrow|typeapp|acompli|bluemail|k-9|windows",
    re.IGNORECASE,
)

# Only rule characters and invisible trackers: nothing a patient means to say.
_JUNK = re.compile(r"^[\s\-_=*#~+.•·ᐧ\u200b\u200c\u200d\u2060\ufeff]+$")
_UNDERSCORE_RULE = re.compile(r"^\s*_{2,}\s*$")
_MAX_FOOTER_LINES = 6
_MAX_FOOTER_CHARS = 120  # a footer line is short; a longer line is the patient's


def is_signature_delimiter(line: str) -> bool:
    return bool(_SIGNATURE_DELIMITER.match(line))


def is_mobile_footer(line: str) -> bool:
    text = line.strip()
    if not text or len(text) > _MAX_FOOTER_CHARS:
        return False
    if _POSSESSIVE_FOOTERS.match(text):
        return True
    # The anchored footer forms fail on a line's first word; the device search scans it all.
    return bool(_APP_FOOTERS.match(text)) and bool(_DEVICE_OR_APP.search(text))


def is_junk(line: str) -> bool:
    """A line of rule characters only (blank lines are not junk)."""
    return bool(_JUNK.match(line)) and bool(line.strip())


def is_footer_rule(
    lines: Sequence[str], index: int, *, text_after: Callable[[int], int] | None = None
) -> bool:
    """An underscore rule, after a blank line, above a short footer that ends the mail.

    Mailing lists ("____\\nriak-users mailing list\\n…") and disclaimers look like this; a rule in
    the middle of a long text, or one that underlines a heading, is the patient's own.
    `text_after(index)` is the number of non-blank lines after `index`, when the caller keeps it.
    """
    if not _UNDERSCORE_RULE.match(lines[index]):
        return False
    if index > 0 and lines[index - 1].strip():
        return False
    if text_after is not None:
        return text_after(index) <= _MAX_FOOTER_LINES
    remaining = 0
    for following in range(index + 1, len(lines)):
        remaining += bool(lines[following].strip())
        if remaining > _MAX_FOOTER_LINES:
            return False
    return True


# --- sign-offs -------------------------------------------------------------------------------

# Closing phrases on a line of their own ("Regards,", "Mvh", "Liebe Grüße"), by language. A
# closing with the name on the same line ("Thanks, Sam") is left alone: it reads as text.
# fmt: off
_CLOSINGS_BY_LANGUAGE: dict[str, tuple[str, ...]] = {
    "English": (
        "regards", "best regards", "kind regards", "warm regards", "warmest regards", "best",
        "best wishes", "all the best", "cheers", "thanks", "thank you", "thanks a lot",
        "many thanks", "thanks again", "sincerely", "yours sincerely", "sincerely yours",
        "yours", "yours truly", "take care", "love", "br", "rgds", "thx",
    ),
    "German": (
        "mit freundlichen grüßen", "mit freundlichen grüssen", "freundliche grüße", "lg", "vg",
        "viele grüße", "liebe grüße", "beste grüße", "herzliche grüße", "mfg", "gruß", "grüße",
        "danke", "vielen dank",
    ),
    "French": (
        "cordialement", "bien cordialement", "bien à vous", "salutations", "merci",
        "amicalement", "bises",
    ),
    "Spanish": (
        "saludos", "un saludo", "saludos cordiales", "atentamente", "gracias", "muchas gracias",
        "un abrazo",
    ),
    "Portuguese": ("atenciosamente", "cumprimentos", "abraços", "obrigado", "obrigada"),
    "Italian": ("cordiali saluti", "distinti saluti", "saluti", "un saluto", "grazie"),
    "Dutch": (
        "met vriendelijke groet", "met vriendelijke groeten", "vriendelijke groet", "groeten",
        "groetjes", "mvg", "bedankt",
    ),
    "Swedish, Danish, Norwegian": (
        "mvh", "med vänlig hälsning", "med vänliga hälsningar", "vänliga hälsningar",
        "hälsningar", "med venlig hilsen", "venlig hilsen", "hilsen", "kh", "vh",
        "med vennlig hilsen", "vennlig hilsen", "tack", "tak",
    ),
    "Finnish": ("ystävällisin terveisin", "terveisin", "kiitos"),
    "Polish": ("pozdrawiam", "z poważaniem", "dziękuję"),
    "Russian": ("с уважением", "спасибо"),
}
# fmt: on
_CLOSINGS = [closing for closings in _CLOSINGS_BY_LANGUAGE.values() for closing in closings]
_CLOSING_LINE = re.compile(
    r"^\s*+(?:"
    + "|".join(re.escape(c) for c in sorted(_CLOSINGS, key=len, reverse=True))
    + r")\s*+[,.!:;]*+\s*+$",
    re.IGNORECASE,
)
_SIGNATURE_RULE = re.compile(r"^\s*(?:-{2,}|_{2,})\s*$")
# "-Sam", "- Sam Jones", "/John", "//Jef": a name signed with a dash or slash.
_DASH_NAME = re.compile(r"^(?:-{1,2}|/{1,2})(?P<space>\s?)(?P<name>\S.*)$")  # on stripped text
_LIST_ITEM = re.compile(r"^\s*(?:[-*•+]|\d+[.)])\s")
_NAME_PARTICLES = frozenset({"de", "van", "von", "der", "den", "da", "di", "du", "la", "le", "y"})
_MAX_NAME_WORDS = 4
_MAX_CONTACT_CHARS = 60
_MAX_SIGNATURE_LINES = 4


def _is_name(text: str) -> bool:
    """One to four capitalised words ("Person B", "Anders Andersen", "Maarten de Jong")."""
    words = text.strip().rstrip(".,").split()
    if not 1 <= len(words) <= _MAX_NAME_WORDS:
        return False
    for word in words:
        bare = word.strip(".'’-")
        if not bare or not bare.replace("-", "").replace("'", "").isalpha():
            return False
        if not (bare[0].isupper() or bare.casefold() in _NAME_PARTICLES):
            return False
    return True


def _is_dash_name(text: str) -> bool:
    match = _DASH_NAME.match(text.strip())
    if match is None:
        return False
    name = match.group("name")
    if _CLOSING_LINE.match(name):
        return False  # "/ Greetings" is a closing without a name
    # "-roman" is a signature; "- roman" could be the last item of a list.
    if not match.group("space") and name.isalpha():
        return True
    return _is_name(name)


def signoff_start(lines: Sequence[str]) -> int:
    """Where a trailing sign-off begins in `lines` (the reply so far), or len(lines) if none.

    A sign-off is a closing phrase or a short rule on its own line followed by a name and at most
    three short contact lines ("Mvh,\\nPerson A\\n070-0000000"), or a final "-Name" line. It is only
    taken when the patient wrote something above it, and never out of the middle of a list.
    """
    filled = [index for index, line in enumerate(lines) if line.strip()]
    if len(filled) < 2:
        return len(lines)
    last = filled[-1]
    if _is_dash_name(lines[last]) and not _LIST_ITEM.match(lines[filled[-2]]):
        return last
    # The opener needs text above it and at most four lines below it.
    for position in range(max(1, len(filled) - _MAX_SIGNATURE_LINES - 1), len(filled)):
        opener = lines[filled[position]]
        if not (_CLOSING_LINE.match(opener) or _SIGNATURE_RULE.match(opener)):
            continue
        after = filled[position + 1 :]
        if (
            after
            and _is_name(lines[after[0]].lstrip("-–—/ "))
            and all(len(lines[i].strip()) <= _MAX_CONTACT_CHARS for i in after[1:])
        ):
            return filled[position]
    return len(lines)
