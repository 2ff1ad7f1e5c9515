"""StoreEntry: what the patient wrote becomes an entry (encrypted), and the message is accepted."""

from __future__ import annotations

import json

from mailgate import audit
from mailgate.ingest.context import MessageContext, Outcome, State
from mailgate.ingest.pipeline import StepEnv
from mailgate.store.models import Entry


class StoreEntry:
    name = "store"
    description = "store the patient's text and fields as an entry"

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
        entry.fields_ct = ring.seal(
            json.dumps({}), table="entry", column="fields_ct", row_id=entry.id
        )
        env.session.add(entry)
        env.session.flush()
        audit.record(
            env.session,
            ring,
            actor="patient",
            action="entry.add",
            object_type="entry",
            object_id=entry.id,
            detail=ctx.form,
        )
        return Outcome(State.ACCEPTED, f"entry stored ({ctx.form})")
