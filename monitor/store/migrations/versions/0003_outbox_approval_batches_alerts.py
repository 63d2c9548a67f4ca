"""outbox: approval, batches, alert tags, partner

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import monitor.store.tables

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("partner", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column("tags", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("batch_key", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column("decided_by", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column("decided_at", monitor.store.tables.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("decision_note", sa.Text(), nullable=True))
        batch_op.create_index("ix_outbox_partner", ["partner"], unique=False)
        batch_op.create_index("ix_outbox_batch_key", ["batch_key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_batch_key")
        batch_op.drop_index("ix_outbox_partner")
        for column in ("decision_note", "decided_at", "decided_by", "batch_key", "tags",
                       "partner"):
            batch_op.drop_column(column)
