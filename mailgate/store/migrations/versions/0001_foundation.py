"""foundation: keys, clinicians, patients, consent, groups, audit

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-23 06:59:06.414188
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=32), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("prev_mac", sa.String(length=64), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    audit_head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # The single head row exists from the start, so appenders can always lock it.
    op.bulk_insert(audit_head, [{"id": 1, "seq": 0, "mac": "0" * 64}])
    op.create_table(
        "clinician",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email_bidx", sa.String(length=64), nullable=False),
        sa.Column("email_ct", sa.LargeBinary(), nullable=False),
        sa.Column("name_ct", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email_bidx"),
    )
    op.create_table(
        "data_key",
        sa.Column("key_id", sa.String(length=8), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("kek_fingerprint", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_id"),
    )
    with op.batch_alter_table("data_key", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_data_key_purpose"), ["purpose"], unique=False)

    op.create_table(
        "patient",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email_bidx", sa.String(length=64), nullable=False),
        sa.Column("email_ct", sa.LargeBinary(), nullable=False),
        sa.Column("name_ct", sa.LargeBinary(), nullable=False),
        sa.Column("tz", sa.String(length=64), nullable=False),
        sa.Column("clinician_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["clinician_id"], ["clinician.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email_bidx"),
    )
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_patient_clinician_id"), ["clinician_id"], unique=False)

    op.create_table(
        "patient_group",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("facilitator_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["facilitator_id"], ["clinician.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("patient_group", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_patient_group_facilitator_id"), ["facilitator_id"], unique=False
        )

    op.create_table(
        "consent",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("grant_method", sa.String(length=32), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoke_method", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consent_patient_id"), ["patient_id"], unique=False)
        batch_op.create_index(
            "ux_consent_active",
            ["patient_id", "purpose"],
            unique=True,
            sqlite_where=sa.text("revoked_at IS NULL"),
            postgresql_where=sa.text("revoked_at IS NULL"),
        )

    op.create_table(
        "group_member",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["group_id"], ["patient_group.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("group_member", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_group_member_group_id"), ["group_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_group_member_patient_id"), ["patient_id"], unique=False
        )
        batch_op.create_index(
            "ux_group_member_current",
            ["group_id", "patient_id"],
            unique=True,
            sqlite_where=sa.text("left_at IS NULL"),
            postgresql_where=sa.text("left_at IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("group_member", schema=None) as batch_op:
        batch_op.drop_index(
            "ux_group_member_current",
            sqlite_where=sa.text("left_at IS NULL"),
            postgresql_where=sa.text("left_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_group_member_patient_id"))
        batch_op.drop_index(batch_op.f("ix_group_member_group_id"))

    op.drop_table("group_member")
    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.drop_index(
            "ux_consent_active",
            sqlite_where=sa.text("revoked_at IS NULL"),
            postgresql_where=sa.text("revoked_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_consent_patient_id"))

    op.drop_table("consent")
    with op.batch_alter_table("patient_group", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patient_group_facilitator_id"))

    op.drop_table("patient_group")
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patient_clinician_id"))

    op.drop_table("patient")
    with op.batch_alter_table("data_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_data_key_purpose"))

    op.drop_table("data_key")
    op.drop_table("clinician")
    op.drop_table("audit_head")
    op.drop_table("audit_event")
