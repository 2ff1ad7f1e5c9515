"""Reading patient replies: body extraction, quote and signature stripping.

extract_body(msg) -> Body             the text of any MIME shape (HTML converted, charset repaired)
reply_text(text, sent_text=None)      the patient's own text: quotes and signatures cut
mailgate.parse.read.read_reply        all of it, plus the form's fields, scores and alerts
mailgate.parse.budget.Budget          what reading one reply may cost (size and CPU time)
"""

from mailgate.parse.body import Body, extract_body
from mailgate.parse.quotes import reply_text

__all__ = ["Body", "extract_body", "reply_text"]
