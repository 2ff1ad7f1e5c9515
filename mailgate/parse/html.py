"""Convert an HTML mail body to plain text, dropping the quoted original first.

HTML-only replies still have to reach the field parser as lines ("Mood (1-10): 7"), so block
elements and `<br>` become line breaks, table cells on one row stay on one line, and whitespace
is collapsed the way a mail client would display it. Quote containers are removed while the
structure is still known — far more reliable than guessing at quote boundaries in the flattened
text. Uses selectolax's lexbor backend (the Modest `selectolax.parser` is gone in 1.0).

lexbor's tree builder looks through its stack of open elements for many tokens, and through an
element's attributes for each new one, so a document nested thousands deep, a tag with thousands
of attributes or a `<select>` with thousands of options takes time quadratic in its size (a 200 KB
reply took seconds, in C code nothing can interrupt); and the walk below costs microseconds per
node. One linear pass over the tags spots such a shape, or more tags than any reply has
(`MAX_TAGS`), first; that document is flattened instead (block tags become line breaks, other
tags and all attributes go) and its text read by lexbor in C. Its words are all kept (paragraphs
may gain a blank line between them); only quote containers are not recognised in it (the
plain-text quote stripper still looks at its text).
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

# The shapes that are flattened before they are read (see the module docstring).
MAX_OPEN_ELEMENTS = 512  # a reply nests 3-5 deep; a thread of replies quoted in full, more
MAX_ATTRIBUTES = 512
MAX_OPTIONS = 256
MAX_TAGS = 50_000
# A tag: its end-tag slash, name and the rest (possessive, so a "<" with no ">" is scanned once).
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*+)([^<>]*+)>")
# In the rest: quoted values, and what is left of names and bare values (a tokenizer takes
# `a="1"b="2"` and `a/b` as two attributes each, whitespace or not).
_QUOTED_VALUE = re.compile(r"\"[^\"]*+\"|'[^']*+'")
_NAME_OR_VALUE = re.compile(r"[^\s/=]++")
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
     "wbr", "param", "keygen"}
)  # fmt: skip
# Elements whose end tag may be left out: the next one of their kind closes them.
_OPTIONAL_END = frozenset(
    {"p", "li", "dt", "dd", "option", "optgroup", "tr", "td", "th", "thead", "tbody", "tfoot",
     "colgroup", "caption", "rb", "rt", "rtc", "rp", "html", "head", "body"}
)  # fmt: skip
_RAW_TEXT = frozenset({"script", "style", "title"})  # their content is never markup; dropped later

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
    # Whether each node seen so far lies inside a match (matches themselves count as inside).
    inside: dict[int, bool] = {node.mem_id: True for node in matches}
    outermost: list[LexborNode] = []
    for node in matches:
        # Walk up only to the first ancestor already known, and remember the answer for every
        # node on the way: walking to the root from each match was quadratic in deep documents.
        path: list[int] = []
        parent = node.parent
        while parent is not None and parent.mem_id not in inside:
            path.append(parent.mem_id)
            parent = parent.parent
        covered = parent is not None and inside[parent.mem_id]
        inside.update(dict.fromkeys(path, covered))
        if not covered:
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


def _needs_flattening(html: str) -> bool:
    """Whether `html` has a shape that would make reading it slow (see the module docstring).

    Counts open elements per name, closing only what an end tag of the same name can close, so
    the count is never below the depth lexbor reaches (implied end tags only lower it).
    """
    open_by_name: dict[str, int] = {}
    depth = options = 0
    for count, tag in enumerate(_TAG.finditer(html)):
        if count >= MAX_TAGS:
            return True
        closing, name, rest = tag.groups()
        name = name.lower()
        if closing:
            if open_by_name.get(name):
                open_by_name[name] -= 1
                depth -= 1
            continue
        options += name == "option"
        if options > MAX_OPTIONS or _attributes(rest) > MAX_ATTRIBUTES:
            return True
        if name in _VOID or name in _OPTIONAL_END or rest.endswith("/"):
            continue
        open_by_name[name] = open_by_name.get(name, 0) + 1
        depth += 1
        if depth > MAX_OPEN_ELEMENTS:
            return True
    return False


def _attributes(rest: str) -> int:
    """At least the number of attributes in the rest of a tag (values may be counted too)."""
    if len(rest) < MAX_ATTRIBUTES:
        return 0  # (too short to hold that many: the common case, without a pattern)
    return len(_NAME_OR_VALUE.findall(_QUOTED_VALUE.sub(" ", rest)))


def _flat_tag(tag: re.Match[str]) -> str:
    closing, name, _attributes = tag.groups()
    name = name.lower()
    if name in _RAW_TEXT:
        return f"<{closing}{name}>"  # kept, so that lexbor reads their content as one text
    if name in BLOCKS or name == "br":
        return "\n"
    return " " if name in CELLS else ""


def _flat_text(html: str) -> str:
    """The words of `html` read with nothing nested: block tags become line breaks, cells a
    space, other tags go; lexbor then only decodes entities and drops scripts and styles."""
    tree = LexborHTMLParser(_TAG.sub(_flat_tag, html))
    for node in tree.css(", ".join(_RAW_TEXT)):
        node.decompose()  # (never nested: their content is text)
    root = tree.root
    return "" if root is None else _tidy(root.text())


def _convert(html: str, strip_quotes: bool) -> str:
    tree = LexborHTMLParser(html)
    if strip_quotes:
        _cut_after_marker(tree)
        _remove_quote_containers(tree)
    root = tree.root
    return "" if root is None else _tidy(_render(root))


def html_to_text(html: str) -> str:
    """The visible text of `html` with quoted originals removed, as `\\n`-separated lines."""
    if _needs_flattening(html):
        return _flat_text(html)
    text = _convert(html, strip_quotes=True)
    if text:
        return text
    # Nothing outside the quote: the patient typed the answers inline into the quoted form
    # (a supported way to reply), so keep the quote rather than return an empty reply.
    return _convert(html, strip_quotes=False)
