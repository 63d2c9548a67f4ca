"""chains: what lets a later ad reuse a chain; sightings: how old a reused chain was

A chain followed for an entry URL, market and device within the reuse window
(BIDWATCH_CHAIN_REUSE_HOURS) is reused instead of followed again. Each chain row keeps its
live part's key, when that part was followed and the hop it starts at (all NULL for chains
recorded before: they are never reused); an index finds the newest chain of a key. A
sighting whose chain was reused says how many seconds old the chain was (NULL: followed
live for it).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import monitor.store.tables

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("chains", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reuse_key", sa.String(), nullable=True))
        batch_op.add_column(sa.Column(
            "followed_at", monitor.store.tables.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("live_from", sa.Integer(), nullable=True))
        batch_op.create_index("ix_chains_reuse_key_followed_at", ["reuse_key", "followed_at"])
    with op.batch_alter_table("sightings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chain_age_s", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sightings", schema=None) as batch_op:
        batch_op.drop_column("chain_age_s")
    with op.batch_alter_table("chains", schema=None) as batch_op:
        batch_op.drop_index("ix_chains_reuse_key_followed_at")
        batch_op.drop_column("live_from")
        batch_op.drop_column("followed_at")
        batch_op.drop_column("reuse_key")
