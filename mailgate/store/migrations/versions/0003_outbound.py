"""outbound: the outbox and the evidence of each delivery attempt

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 09:29:44.486064
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_message",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("form", sa.String(length=32), nullable=True),
        sa.Column("patient_id", sa.Uuid(), nullable=True),
        sa.Column("clinician_id", sa.Uuid(), nullable=True),
        sa.Column("group_id", sa.Uuid(), nullable=True),
        sa.Column("thread_id", sa.Uuid(), nullable=True),
        sa.Column("rcpt_bidx", sa.String(length=64), nullable=False),
        sa.Column("rcpt_count", sa.Integer(), nullable=False),
        sa.Column("envelope_ct", sa.LargeBinary(), nullable=False),
        sa.Column("raw_ct", sa.LargeBinary(), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("transport", sa.String(length=255), nullable=False),
        sa.Column("tls_version", sa.String(length=16), nullable=True),
        sa.Column("cert_verified", sa.Boolean(), nullable=True),
        sa.Column("relay_code", sa.Integer(), nullable=True),
        sa.Column("relay_reply_ct", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["clinician_id"], ["clinician.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["group_id"], ["patient_group.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["thread_id"], ["reply_thread.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id"),
    )
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_due", ["state", "next_attempt_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_outbox_message_clinician_id"), ["clinician_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_outbox_message_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_outbox_message_group_id"), ["group_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_outbox_message_patient_id"), ["patient_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_outbox_message_rcpt_bidx"), ["rcpt_bidx"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_outbox_message_thread_id"), ["thread_id"], unique=False
        )

    op.create_table(
        "outbox_attempt",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("outbox_id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("transport", sa.String(length=255), nullable=False),
        sa.Column("code", sa.Integer(), nullable=True),
        sa.Column("tls_version", sa.String(length=16), nullable=True),
        sa.Column("cert_verified", sa.Boolean(), nullable=True),
        sa.Column("detail_ct", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox_message.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outbox_attempt", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outbox_attempt_outbox_id"), ["outbox_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox_attempt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_attempt_outbox_id"))

    op.drop_table("outbox_attempt")
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_message_thread_id"))
        batch_op.drop_index(batch_op.f("ix_outbox_message_rcpt_bidx"))
        batch_op.drop_index(batch_op.f("ix_outbox_message_patient_id"))
        batch_op.drop_index(batch_op.f("ix_outbox_message_group_id"))
        batch_op.drop_index(batch_op.f("ix_outbox_message_created_at"))
        batch_op.drop_index(batch_op.f("ix_outbox_message_clinician_id"))
        batch_op.drop_index("ix_outbox_due")

    op.drop_table("outbox_message")
