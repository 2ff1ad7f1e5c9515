"""Rendering a form's own block (the lines a patient fills in) from `templates/forms/`.

The blocks are static on purpose: the outbound wrapper (`templates/mail/form.*.j2`) includes them
with its own context under `StrictUndefined`, so they may use no variables of their own. The
catalog stays the source of truth; the forms tests check that every rendered block parses back.
"""

from __future__ import annotations

import functools
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from mailgate.forms.catalog import FormSpec

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"


@functools.cache
def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_form_text(form: FormSpec) -> str:
    """The plain-text block of `form`: one `Label:` line per field."""
    return environment().get_template(f"{form.template}.txt.j2").render()


def render_form_html(form: FormSpec) -> str:
    """The HTML block of `form` (a table, inline styles only)."""
    return environment().get_template(f"{form.template}.html.j2").render()
