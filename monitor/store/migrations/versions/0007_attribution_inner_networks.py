"""attributions: the networks the outermost one sent the click through

An aggregator's link (Skimlinks, Sovrn) re-wrapped into the merchant's own network, or one
network wrapping another: the outermost is the network of record, the inner ones are kept
beside it (JSON list of their ids) so a notice can name the sub-publisher too. Rows recorded
before have none ('[]').

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-09
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("attributions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("inner_networks_json", sa.Text(), server_default="[]",
                                      nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("attributions", schema=None) as batch_op:
        batch_op.drop_column("inner_networks_json")
