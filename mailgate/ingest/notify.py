"""Mail the ingest worker sends as a consequence of a message (confirmations, opt-out notices,
alerts), always through the one outbound path, in the message's own transaction.

Each request runs in its own savepoint: if composing fails, the reason is logged and the patient's
entry is still stored — a notice must never cost the message it is about.
"""

from __future__ import annotations

from mailgate import outbound
from mailgate.ingest.pipeline import StepEnv
from mailgate.log import get_logger
from mailgate.store.models import Clinician, Patient

log = get_logger("mailgate.ingest")


def send(env: StepEnv, request: outbound.OutboundRequest, what: str) -> bool:
    """Queue one message; True when it reached the outbox (not refused)."""
    try:
        with env.session.begin_nested():
            result = outbound.enqueue(env.app, env.session, request)
    except Exception as exc:
        log.error("notice not queued", what=what, error=type(exc).__name__)
        return False
    log.info("notice queued", what=what, outbox=str(result.id), state=result.state.value)
    return result.state is not outbound.OutboxState.REFUSED


def notify_clinician(
    env: StepEnv,
    patient: Patient,
    kind: str,
    *,
    headline: str = "",
    details: tuple[str, ...] = (),
    alert_id: str = "",
    severity: str = "",
) -> bool:
    """An alert or a notice about `patient` to the patient's own clinician."""
    clinician = env.session.get(Clinician, patient.clinician_id)
    if clinician is None:
        return False
    if kind == "alert":
        request = outbound.alert_notice(clinician, patient.id, alert_id, severity)
    else:
        request = outbound.clinician_notice(clinician, headline, details, about=[patient.id])
    return send(env, request, kind)
