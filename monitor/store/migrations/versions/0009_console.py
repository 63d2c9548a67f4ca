"""console: users, API tokens, sessions, login attempts, an audit log; indexes for the cases page

The web console's own tables. Passwords are kept as argon2 hashes and API tokens and session
ids as the sha256 of their secret, so the database alone lets nobody in. The cases page sorts
by when a case was first and last seen or by severity, pages by (value, id) and filters by
clause: those get indexes.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import monitor.store.tables

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TYPE = monitor.store.tables.UTCDateTime(timezone=True)
#: the cases page's sort keys, each paged by (key, id)
CASE_INDEXES = {
    "ix_incidents_last_seen_id": ["last_seen", "id"],
    "ix_incidents_first_seen_id": ["first_seen", "id"],
    "ix_incidents_severity_id": ["severity", "id"],
    "ix_incidents_status_last_seen": ["status", "last_seen"],
}


def upgrade() -> None:
    _users_and_tokens()
    _sessions_attempts_audit()
    for name, columns in CASE_INDEXES.items():
        op.create_index(name, "incidents", columns)
    op.create_index("ix_incident_clauses_clause", "incident_clauses", ["clause"])


def downgrade() -> None:
    op.drop_index("ix_incident_clauses_clause", table_name="incident_clauses")
    for name in CASE_INDEXES:
        op.drop_index(name, table_name="incidents")
    for table in ("console_audit", "console_login_attempts", "console_sessions",
                  "console_tokens", "console_users"):
        op.drop_table(table)


def _users_and_tokens() -> None:
    op.create_table(
        "console_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_TYPE, nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "console_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(), nullable=False),
        sa.Column("created_at", UTC_TYPE, nullable=False),
        sa.Column("last_used_at", UTC_TYPE, nullable=True),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["console_users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_console_tokens_user_id", "console_tokens", ["user_id"])


def _sessions_attempts_audit() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_hash", sa.String(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(), nullable=False),
        sa.Column("created_at", UTC_TYPE, nullable=False),
        sa.Column("last_seen_at", UTC_TYPE, nullable=False),
        sa.Column("expires_at", UTC_TYPE, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["console_users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("session_hash"),
    )
    op.create_index("ix_console_sessions_user_id", "console_sessions", ["user_id"])
    op.create_table(
        "console_login_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UTC_TYPE, nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("client", sa.String(), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_console_login_attempts_name_at", "console_login_attempts",
                    ["name", "at"])
    op.create_index("ix_console_login_attempts_client_at", "console_login_attempts",
                    ["client", "at"])
    op.create_table(
        "console_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UTC_TYPE, nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_console_audit_actor", "console_audit", ["actor"])
    op.create_index("ix_console_audit_incident_id", "console_audit", ["incident_id"])
