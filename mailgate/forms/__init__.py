"""Forms: the catalog of what patients fill in, the tolerant field parser, scoring and safety rules."""

from mailgate.forms.alerts import ALERT_RULES, Alert, AlertRule, evaluate
from mailgate.forms.catalog import FORMS, SCALE, FieldSpec, FormSpec, get_form
from mailgate.forms.fields import FieldError, FieldResult, parse_fields
from mailgate.forms.measures import Score, score_gad7, score_phq9
from mailgate.forms.render import render_form_html, render_form_text
from mailgate.forms.values import ValueProblem

__all__ = [
    "ALERT_RULES",
    "FORMS",
    "SCALE",
    "Alert",
    "AlertRule",
    "FieldError",
    "FieldResult",
    "FieldSpec",
    "FormSpec",
    "Score",
    "ValueProblem",
    "evaluate",
    "get_form",
    "parse_fields",
    "render_form_html",
    "render_form_text",
    "score_gad7",
    "score_phq9",
]
