"""ads: a shopping ad's merchant and price

A product listing ad names its merchant and price; they are kept as the page shows them
("Amazon.com", "$1,299.00"), so a notice can quote them. Text ads, and ads recorded before,
have none (NULL).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-10
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("merchant", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("price", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ads", schema=None) as batch_op:
        batch_op.drop_column("price")
        batch_op.drop_column("merchant")
