"""Convert an HTML mail body to plain text, dropping the quoted original first.

HTML-only replies still have to reach the field parser as lines ("Mood (1-10): 7"), so block
elements and `<br>` become line breaks, table cells on one row stay on one line, and whitespace
is collapsed the way a mail client would display it. Quote containers are removed while the
structure is still known — far more reliable than guessing at quote boundaries in the flattened
text. Uses selectolax's lexbor backend (the Modest `selectolax.parser` is gone in 1.0).
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser, LexborNode

# Containers that hold only the quoted original (with its attribution line).
QUOTE_CONTAINERS = ", ".join(
    (
        "div.gmail_quote",  # Gmail (web, Android, iOS)
        "blockquote.gmail_quote",
        ".gmail_attr",  # Gmail's "On … wrote:" line
        'blockquote[type="cite"]',  # Apple Mail, iOS Mail, Thunderbird
        ".moz-cite-prefix",  # Thunderbird's attribution line
        "div.yahoo_quoted",  # Yahoo
        "#mail-editor-reference-message-container",  # new Outlook, Outlook for Mac/iOS
    )
)
# Outlook does not wrap the original: it inserts a header block and the original follows as
# siblings, so everything from the first of these markers to the end of the document goes.
QUOTE_MARKERS = "#appendonsend, #divRplyFwdMsg"

DROPPED = frozenset({"head", "script", "style", "title", "template", "noscript", "object"})
# Elements a mail client renders on lines of their own.
BLOCKS = frozenset(
    {
        "p", "div", "li", "ul", "ol", "dl", "dt", "dd", "tr", "table", "tbody", "thead", "tfoot",
        "blockquote", "pre", "hr", "address", "article", "aside", "section", "header", "footer",
        "nav", "center", "form", "fieldset", "figure", "figcaption", "details", "summary", "main",
        "h1", "h2", "h3", "h4", "h5", "h6", "body", "html",
    }
)  # fmt: skip
CELLS = frozenset({"td", "th"})

_SPACES = re.compile(r"[ \t\r\n\f\v\xa0]+")
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_BLANK_RUNS = re.compile(r"\n{3,}")


def _children(node: LexborNode) -> list[LexborNode]:
    children: list[LexborNode] = []
    child = node.first_child
    while child is not None:
        children.append(child)
        child = child.next
    return children


def _cut_after_marker(tree: LexborHTMLParser) -> None:
    marker = tree.css_first(QUOTE_MARKERS)
    if marker is None:
        return
    doomed: list[LexborNode] = [marker]
    node: LexborNode | None = marker
    # Everything after the marker in document order: its following siblings, then those of each
    # ancestor, up to <body>.
    while node is not None and node.tag not in ("body", "html", "-document"):
        sibling = node.next
        while sibling is not None:
            doomed.append(sibling)
            sibling = sibling.next
        node = node.parent
    for victim in doomed:
        victim.decompose()


def _remove_quote_containers(tree: LexborHTMLParser) -> None:
    matches = tree.css(QUOTE_CONTAINERS)
    matched = {node.mem_id for node in matches}
    outermost: list[LexborNode] = []
    for node in matches:
        parent = node.parent
        while parent is not None and parent.mem_id not in matched:
            parent = parent.parent
        if parent is None:
            outermost.append(node)
    # Decompose only the outermost matches: a nested match is freed with its ancestor, and
    # touching it afterwards would be a use-after-free inside lexbor.
    for node in outermost:
        node.decompose()


def _render(root: LexborNode) -> str:
    out: list[str] = []

    def line_break() -> None:
        if out and not out[-1].endswith("\n"):
            out.append("\n")

    # Iterative walk: patient HTML can nest deeper than Python's recursion limit.
    stack: list[tuple[LexborNode, bool]] = [(root, False)]
    pre_depth = 0
    while stack:
        node, closing = stack.pop()
        tag = node.tag or ""
        if closing:
            if tag == "pre":
                pre_depth -= 1
            if tag in BLOCKS:
                line_break()
            elif tag in CELLS:
                out.append(" ")
            continue
        if tag == "-text":
            text = node.text_content or ""
            out.append(text if pre_depth else _SPACES.sub(" ", text))
            continue
        if (tag.startswith("-") and tag != "-document") or tag in DROPPED:
            continue  # comments, doctype, and elements whose content is never shown
        if tag == "br":
            out.append("\n")
            continue
        if tag in BLOCKS:
            line_break()
        if tag == "pre":
            pre_depth += 1
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(_children(node)))
    return "".join(out)


def _tidy(text: str) -> str:
    text = _INVISIBLE.sub("", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()


def _convert(html: str, strip_quotes: bool) -> str:
    tree = LexborHTMLParser(html)
    if strip_quotes:
        _cut_after_marker(tree)
        _remove_quote_containers(tree)
    root = tree.root
    return "" if root is None else _tidy(_render(root))


def html_to_text(html: str) -> str:
    """The visible text of `html` with quoted originals removed, as `\\n`-separated lines."""
    text = _convert(html, strip_quotes=True)
    if text:
        return text
    # Nothing outside the quote: the patient typed the answers inline into the quoted form
    # (a supported way to reply), so keep the quote rather than return an empty reply.
    return _convert(html, strip_quotes=False)
