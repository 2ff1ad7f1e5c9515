"""audit anchor: the audit head carries an HMAC under a key derived from the KEK

- `audit_head.anchor_seq` and `audit_head.anchor`: the event the anchor pins and the HMAC over its
  seq and MAC. The migration runs without the KEK, so it leaves both empty; the process that runs
  it anchors the head as it stands right afterwards (`mailgate.app.open_app`).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_head") as batch:
        batch.add_column(sa.Column("anchor_seq", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("anchor", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_head") as batch:
        batch.drop_column("anchor")
        batch.drop_column("anchor_seq")
