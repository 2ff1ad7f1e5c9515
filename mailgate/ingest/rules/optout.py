"""Recognising opt-out: the patient asks us to stop emailing them.

Every message we send says "reply STOP"; List-Unsubscribe sends "unsubscribe" as the subject of an
empty mail. What counts, in the patient's own lines only (a quoted footer that mentions
unsubscribing must not opt anyone out):

- a stop word as the subject (after Re:/AW: …), or as the first line of the reply, in any case:
  STOP, unsubscribe, and their equivalents in the languages we read (`STOP_WORDS`);
- a stop word as the first word of the reply, when it is written in capitals ("STOP sending these")
  or followed only by words about mail and politeness ("Stop sending me these emails please");
  "Stop smoking went well" is a milestone, not an opt-out;
- the short SMS-style words (cancel, end, quit …) only as the whole reply;
- a sentence asking to be removed, in one of the supported languages (`_PHRASES`), in the first
  lines of the reply.

The patterns are alternations of literal words, so they stay linear on any input, and they only see
the first few lines (each cut to `_LINE`) and the subject.
"""

from __future__ import annotations

import re

from mailgate.ingest.context import MessageContext

STOP_WORDS = (
    "stop|stopp|stoppen|unsubscribe|désabonner|desabonner|désinscrire|abmelden|afmelden|"
    "uitschrijven|avregistrera|avmeld|afmeld|disiscrivimi|descadastrar|wypisz"
)
# Fine as a whole reply (SMS habits), too common to count inside a sentence.
_SOFT_WORDS = "cancel|end|quit|arrêt|arret|arrêter|cancelar|basta|alto|fin|ende|sluta|slutt"
_WHOLE_WORD = re.compile(
    rf"^\W*(?:please\s+|bitte\s+|s'il vous plaît\s+)?(?:{STOP_WORDS}|{_SOFT_WORDS})"
    r"(?:\s+(?:please|now|me|all|thanks|thank you|bitte|merci|por favor|grazie))*\W*$",
    re.IGNORECASE,
)
_STRONG_WORD = re.compile(rf"^\W*(?:{STOP_WORDS})\W*$", re.IGNORECASE)
_FIRST_WORD = re.compile(rf"^\W*({STOP_WORDS})\b\W*(.*)$", re.IGNORECASE)
# The words that may follow a stop word in "Stop sending me these emails, please".
# fmt: off
_ABOUT_MAIL = frozenset({
    "please", "now", "thanks", "thank", "you", "sending", "emailing", "mailing", "emails", "email",
    "e-mails", "e-mail", "mails", "mail", "messages", "message", "these", "this", "them", "it",
    "all", "the", "any", "more", "me", "my", "your", "reminders", "reminder", "forms", "form",
    "list", "from", "to", "us",
})
# fmt: on
_PHRASES = re.compile(
    "|".join(
        (
            # English
            r"\bunsubscribe\s+me\b",
            r"\bplease\s+unsubscribe\b",
            r"\bstop\s+(?:sending|emailing|e-mailing|mailing)\b",
            r"\b(?:remove|take)\s+me\s+(?:off|from)\s+(?:this|the|your)\s+(?:list|mailing|emails)",
            r"\bplease\s+remove\s+me\b",
            r"\bopt\s+me\s+out\b",
            r"\b(?:want|like)\s+to\s+opt[- ]?out\b",
            r"\b(?:don't|do\s+not)\s+(?:send|email)\s+me\s+(?:any\s*more|again)\b",
            r"\bno\s+more\s+(?:emails|e-mails|messages|reminders)\b",
            # German
            r"\bbitte\s+(?:melden\s+sie\s+mich\s+ab|abmelden|austragen)\b",
            r"\bmelden\s+sie\s+mich\s+ab\b",
            r"\bkeine\s+(?:e-?mails|mails|nachrichten)\s+mehr\b",
            r"\b(?:entfernen|löschen)\s+sie\s+mich\b",
            # French
            r"\bdésabonnez[- ]moi\b",
            r"\bme\s+désabonner\b",
            r"\bne\s+(?:plus|veux\s+plus)\s+recevoir\b",
            r"\bretirez[- ]moi\b",
            r"\barrêtez\s+de\s+m'envoyer\b",
            # Spanish
            r"\bd(?:ar|a)me\s+de\s+baja\b",
            r"\bno\s+(?:quiero|deseo)\s+recibir\b",
            r"\bdejen\s+de\s+(?:enviarme|mandarme)\b",
            r"\b(?:elimínenme|eliminarme|quítenme|quitarme)\s+de\b",
            # Italian
            r"\bcancellami\b",
            r"\bnon\s+voglio\s+più\s+ricevere\b",
            r"\bsmettete\s+di\s+(?:inviarmi|mandarmi)\b",
            r"\brimuovetemi\b",
            # Dutch
            r"\bschrijf\s+me\s+uit\b",
            r"\bgeen\s+(?:e-?mails|mails)\s+meer\b",
            r"\bverwijder\s+mij\b",
            # Portuguese
            r"\b(?:cancelar|cancele)\s+(?:a\s+)?(?:minha\s+)?inscrição\b",
            r"\bnão\s+quero\s+(?:mais\s+)?receber\b",
            r"\bparem\s+de\s+(?:enviar|mandar)\b",
            r"\bremova[- ]me\b",
            # Scandinavian, Polish
            r"\bavsluta\s+prenumerationen\b",
            r"\bsluta\s+skicka\b",
            r"\bslutt\s+å\s+sende\b",
            r"\bstop\s+med\s+at\s+sende\b",
            r"\bwypisz\s+mnie\b",
            r"\bnie\s+chcę\s+(?:więcej\s+)?otrzymywać\b",
        )
    ),
    re.IGNORECASE,
)
_SUBJECT_PREFIX = re.compile(r"^\s*(?:(?:re|aw|sv|vs|antw|r|fw|fwd|wg|tr)\s*:\s*)*", re.IGNORECASE)
_LINE = 200  # what each pattern sees of a line
_LINES = 5  # the first lines of the reply that may ask


def _first_word_asks(line: str) -> bool:
    match = _FIRST_WORD.match(line)
    if match is None:
        return False
    word, rest = match.groups()
    if word.isupper() and len(word) > 1:  # "STOP …": shouted at an automated sender, it means it
        return True
    words = re.findall(r"[\w'-]+", rest.lower())
    return all(w in _ABOUT_MAIL for w in words)


class OptOutRule:
    name = "opt_out"
    description = "the patient asks to stop receiving email from us"

    def check(self, ctx: MessageContext) -> bool:
        assert ctx.msg is not None
        lines = [line.strip()[:_LINE] for line in ctx.text.splitlines() if line.strip()][:_LINES]
        subject = _SUBJECT_PREFIX.sub("", str(ctx.msg.get("Subject", ""))[:_LINE])
        if _STRONG_WORD.match(subject) or (not lines and _WHOLE_WORD.match(subject)):
            return ctx.decide(self.name, True, "a stop word as the subject")
        if not lines:
            return ctx.decide(self.name, False, "no opt-out request")
        if _STRONG_WORD.match(lines[0]) or (len(lines) <= 3 and _WHOLE_WORD.match(lines[0])):
            return ctx.decide(self.name, True, "a stop word as the reply")
        if _first_word_asks(lines[0]):
            return ctx.decide(self.name, True, "a stop word opening the reply")
        if any(_PHRASES.search(line) for line in lines):
            return ctx.decide(self.name, True, "asks in words to unsubscribe")
        return ctx.decide(self.name, False, "no opt-out request")
