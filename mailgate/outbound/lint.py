"""Template lint: a subject line must never carry patient data.

Subjects travel in the clear (mail servers log them, lock screens show them), so a subject template
may use only the variables in `SUBJECT_VARIABLES` and may not include other templates. The check
parses each `*.subject.j2` with `jinja2.meta`, runs when the composer loads its templates, and is
run over every template by a test.
"""

from __future__ import annotations

from jinja2 import Environment, TemplateSyntaxError, meta

from mailgate.errors import MailgateError

# Neither of these can name or describe a patient: the practice, and the form's fixed title.
SUBJECT_VARIABLES = frozenset({"practice_name", "form_title"})
SUBJECT_SUFFIX = ".subject.j2"


class TemplateLintError(MailgateError):
    """A template breaks a rule that protects patients (one line, naming template and rule)."""


def subject_problems(env: Environment, name: str) -> list[str]:
    """What is wrong with one subject template (empty when it is fine)."""
    assert env.loader is not None
    source = env.loader.get_source(env, name)[0]
    try:
        tree = env.parse(source, name=name)
    except TemplateSyntaxError as exc:
        return [f"subject template {name} does not parse (line {exc.lineno})"]
    problems = [
        f"subject template {name} uses {variable!r}: subjects may only use "
        + ", ".join(sorted(SUBJECT_VARIABLES))
        for variable in sorted(meta.find_undeclared_variables(tree) - SUBJECT_VARIABLES)
    ]
    if any(True for _ in meta.find_referenced_templates(tree)):
        problems.append(f"subject template {name} includes another template")
    return problems


def subject_templates(env: Environment) -> list[str]:
    return env.list_templates(filter_func=lambda name: name.endswith(SUBJECT_SUFFIX))


def check_subjects(env: Environment) -> None:
    """Raise TemplateLintError for the first subject template that could carry patient data."""
    for name in subject_templates(env):
        problems = subject_problems(env, name)
        if problems:
            raise TemplateLintError(problems[0])
