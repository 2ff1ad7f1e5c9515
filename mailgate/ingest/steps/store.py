"""StoreEntry: what the patient wrote becomes an entry (text and fields encrypted), and each safety
alert a row for the clinician to acknowledge, with a notice to the patient's clinician."""

from __future__ import annotations

import json

from mailgate import audit
from mailgate.ingest.context import MessageContext, Outcome
from mailgate.ingest.notify import notify_clinician
from mailgate.ingest.pipeline import StepEnv
from mailgate.store.models import Entry, SafetyAlert


class StoreEntry:
    name = "store"
    description = "store the patient's text and fields as an entry; raise its safety alerts"

    def run(self, ctx: MessageContext, env: StepEnv) -> Outcome | None:
        assert ctx.patient is not None and ctx.form is not None
        ring = env.app.ring
        entry = Entry(
            patient_id=ctx.patient.id,
            inbound_id=ctx.row.id,
            thread_id=ctx.thread.id if ctx.thread else None,
            form=ctx.form,
            text_ct=b"",
        )
        entry.text_ct = ring.seal(ctx.text, table="entry", column="text_ct", row_id=entry.id)
        stored = {
            "fields": ctx.fields,
            "errors": [{"field": e.field, "message": e.message} for e in ctx.errors],
        }
        entry.fields_ct = ring.seal(
            json.dumps(stored), table="entry", column="fields_ct", row_id=entry.id
        )
        env.session.add(entry)
        env.session.flush()
        ctx.entry = entry
        audit.record(
            env.session,
            ring,
            actor="patient",
            action="entry.add",
            object_type="entry",
            object_id=entry.id,
            detail=ctx.form,
        )
        for alert in ctx.alerts:
            row = SafetyAlert(
                patient_id=ctx.patient.id,
                entry_id=entry.id,
                rule=alert.rule,
                severity=alert.severity,
                reason=alert.reason,
            )
            env.session.add(row)
            env.session.flush()
            audit.record(
                env.session,
                ring,
                actor="system:ingest",
                action="alert.raise",
                object_type="safety_alert",
                object_id=row.id,
                detail=f"{alert.rule} {alert.severity}",
            )
            notify_clinician(
                env, ctx.patient, "alert", alert_id=str(row.id), severity=alert.severity
            )
        return None
