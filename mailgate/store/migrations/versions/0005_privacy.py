"""privacy: stable journal addresses, readable suppression list, BCC group mail retired

- `journal_address.token_key`: the token key a journal address is signed with, so the address a
  patient keeps in their address book stays the same (it was re-signed, with a new expiry, on
  every `patient show`).
- `suppression.address_ct` (the address, encrypted, so `mailgate suppression list` can show it)
  and `lifted_at`/`lifted_by` (who lifted a suppression, and when).
- BCC group mail is retired (every group message is fanned out, one recheckable row per member):
  BCC rows still waiting to go out are refused with a reason, to be sent again as fan-out.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BCC_RETIRED = "group_delivery: BCC group mail was retired; send the form to the group again"


def upgrade() -> None:
    with op.batch_alter_table("journal_address") as batch:
        batch.add_column(sa.Column("token_key", sa.String(length=8), nullable=True))
    with op.batch_alter_table("suppression") as batch:
        batch.add_column(sa.Column("address_ct", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("lifted_by", sa.String(length=255), nullable=True))
    outbox = sa.table(
        "outbox_message",
        sa.column("state", sa.String),
        sa.column("reason", sa.String),
        sa.column("rcpt_count", sa.Integer),
        sa.column("claimed_by", sa.String),
    )
    op.execute(
        outbox.update()
        .where(outbox.c.rcpt_count > 1, outbox.c.state.in_(["queued", "deferred", "sending"]))
        .values(state="refused", reason=BCC_RETIRED, claimed_by=None)
    )


def downgrade() -> None:
    with op.batch_alter_table("suppression") as batch:
        batch.drop_column("lifted_by")
        batch.drop_column("lifted_at")
        batch.drop_column("address_ct")
    with op.batch_alter_table("journal_address") as batch:
        batch.drop_column("token_key")
