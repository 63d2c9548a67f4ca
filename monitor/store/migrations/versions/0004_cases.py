"""cases: incidents fold into one case per offender and destination, with clauses

Before, an incident was offender · policy · term group · engine, so one offending ad made
several incidents. Now a case is offender · destination (the registrable domain the ad
sends people to) · network (the affiliate network its link went through, if any) and each
policy it breaks is a clause of it. The upgrade folds the old
incidents into cases keeping every sighting, finding, status change, note and sent notice:

- an old incident's destination and network are those of its latest sighting (what its
  notice showed);
- the cases keeps the highest old id of its incidents (so SQLite never hands a folded id to
  a new case) and every folded id is kept in incident_aliases;
- the case takes the most advanced status of its incidents and the highest notice level;
  each folded incident leaves an event in the case's history saying what it was.

Also: link boxes on captures (to outline an ad on a thumbnail), the message bytes on the
outbox (the copy kept is the message sent), the agreement version on findings, and the
allowlist staff carry false positives into. There is no downgrade: the fold loses the old
split, which nothing could restore.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op

import monitor.store.tables

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TYPE = monitor.store.tables.UTCDateTime(timezone=True)
#: least to most advanced: a folded case takes the most advanced of its incidents' statuses
STATUS_ORDER = ("new", "notified", "acknowledged", "expired", "resolved", "false_positive")
SEVERITY_ORDER = ("info", "low", "medium", "high", "critical")


def upgrade() -> None:
    _new_columns_and_tables()
    _fold_incidents_into_cases()
    # the old key's parts; their index goes first (SQLite refuses to drop an indexed column)
    op.drop_index("ix_incidents_policy", table_name="incidents")
    for column in ("policy", "title", "term_group", "engine"):
        op.execute(f"ALTER TABLE incidents DROP COLUMN {column}")


def downgrade() -> None:
    raise NotImplementedError("cases cannot be split back into the old incidents")


def _new_columns_and_tables() -> None:
    with op.batch_alter_table("captures") as batch:
        batch.add_column(sa.Column("link_boxes_json", sa.Text(), server_default="[]",
                                   nullable=False))
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("message", sa.LargeBinary(), nullable=True))
    with op.batch_alter_table("findings") as batch:
        batch.add_column(sa.Column("agreement_version", sqlmodel.sql.sqltypes.AutoString(),
                                   nullable=True))
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("destination", sqlmodel.sql.sqltypes.AutoString(),
                                   server_default="", nullable=False))
        batch.add_column(sa.Column("network", sqlmodel.sql.sqltypes.AutoString(),
                                   nullable=True))
        batch.add_column(sa.Column("engines_json", sa.Text(), server_default="[]",
                                   nullable=False))
        batch.add_column(sa.Column("term_groups_json", sa.Text(), server_default="[]",
                                   nullable=False))
        batch.create_index("ix_incidents_destination", ["destination"], unique=False)
    op.create_table(
        "incident_clauses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("policy", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("severity", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("clause", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("agreement_version", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("first_seen", UTC_TYPE, nullable=False),
        sa.Column("last_seen", UTC_TYPE, nullable=False),
        sa.Column("sighting_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("incident_id", "policy"),
    )
    op.create_index("ix_incident_clauses_incident_id", "incident_clauses", ["incident_id"])
    op.create_index("ix_incident_clauses_policy", "incident_clauses", ["policy"])
    op.create_table(
        "incident_aliases",
        sa.Column("old_id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("was", sa.Text(), server_default="", nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"]),
        sa.PrimaryKeyConstraint("old_id"),
    )
    op.create_index("ix_incident_aliases_incident_id", "incident_aliases", ["incident_id"])
    op.create_table(
        "allowlist",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("advertiser", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("destination", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("from_incident", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC_TYPE, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("advertiser", "destination"),
    )
    op.create_index("ix_allowlist_advertiser", "allowlist", ["advertiser"])


# -- the fold ----------------------------------------------------------------------------------

_incidents = sa.table(
    "incidents", sa.column("id", sa.Integer), sa.column("key", sa.String),
    sa.column("offender", sa.String), sa.column("partner", sa.String),
    sa.column("policy", sa.String), sa.column("title", sa.String),
    sa.column("term_group", sa.String), sa.column("engine", sa.String),
    sa.column("severity", sa.String), sa.column("status", sa.String),
    sa.column("level", sa.Integer), sa.column("first_seen", UTC_TYPE),
    sa.column("last_seen", UTC_TYPE), sa.column("sighting_count", sa.Integer),
    sa.column("markets_json", sa.Text), sa.column("devices_json", sa.Text),
    sa.column("destination", sa.String), sa.column("network", sa.String),
    sa.column("engines_json", sa.Text),
    sa.column("term_groups_json", sa.Text),
)
_findings = sa.table(
    "findings", sa.column("id", sa.Integer), sa.column("sighting_id", sa.Integer),
    sa.column("incident_id", sa.Integer), sa.column("policy", sa.String),
    sa.column("clause", sa.String),
)
_sightings = sa.table(
    "sightings", sa.column("id", sa.Integer), sa.column("ad_id", sa.Integer),
    sa.column("seen_at", UTC_TYPE),
)
_attributions = sa.table(
    "attributions", sa.column("ad_id", sa.Integer), sa.column("landing_domain", sa.String),
    sa.column("display_domain", sa.String), sa.column("network", sa.String),
)
_events = sa.table(
    "incident_events", sa.column("id", sa.Integer), sa.column("incident_id", sa.Integer),
    sa.column("at", UTC_TYPE), sa.column("status_from", sa.String),
    sa.column("status_to", sa.String), sa.column("note", sa.Text),
)
_outbox = sa.table("outbox", sa.column("incident_id", sa.Integer))
_clauses = sa.table(
    "incident_clauses", sa.column("incident_id", sa.Integer), sa.column("policy", sa.String),
    sa.column("title", sa.String), sa.column("severity", sa.String),
    sa.column("clause", sa.String), sa.column("agreement_version", sa.String),
    sa.column("first_seen", UTC_TYPE), sa.column("last_seen", UTC_TYPE),
    sa.column("sighting_count", sa.Integer),
)
_aliases = sa.table(
    "incident_aliases", sa.column("old_id", sa.Integer), sa.column("incident_id", sa.Integer),
    sa.column("was", sa.Text),
)


def _fold_incidents_into_cases() -> None:
    bind = op.get_bind()
    incidents = [row._mapping for row in bind.execute(sa.select(_incidents)).all()]
    if not incidents:
        return
    findings = [row._mapping for row in bind.execute(
        sa.select(_findings.c.incident_id, _findings.c.sighting_id, _findings.c.policy,
                  _findings.c.clause, _sightings.c.seen_at, _attributions.c.landing_domain,
                  _attributions.c.display_domain, _attributions.c.network)
        .select_from(_findings)
        .join(_sightings, _sightings.c.id == _findings.c.sighting_id)
        .join(_attributions, _attributions.c.ad_id == _sightings.c.ad_id, isouter=True)
    ).all()]
    by_incident: dict[int, list[Any]] = defaultdict(list)
    for finding in findings:
        by_incident[finding["incident_id"]].append(finding)
    groups: dict[str, list[Any]] = defaultdict(list)
    for incident in incidents:
        destination, network = _destination(by_incident[incident["id"]])
        key = f"{incident['offender']}|{destination}|{network or 'direct'}"
        groups[key].append((incident, destination, network))
    now = datetime.now(UTC)
    for key, members in groups.items():
        _fold_group(bind, key, members, by_incident, now)


def _destination(findings: list[Any]) -> tuple[str, str | None]:
    """The destination and network of an old incident: its latest sighting's landing (else
    display) domain and network, as judge.incidents reads them."""
    if not findings:
        return "unknown", None
    latest = max(findings, key=lambda f: (_aware(f["seen_at"]), f["sighting_id"]))
    return (latest["landing_domain"] or latest["display_domain"] or "unknown",
            latest["network"] or None)


def _fold_group(
    bind: sa.Connection,
    key: str,
    members: list[tuple[Any, str, str | None]],
    by_incident: dict[int, list[Any]],
    now: datetime,
) -> None:
    olds = [incident for incident, _destination, _network in members]
    _first, destination, network = members[0]
    keep = max(i["id"] for i in olds)
    folded = [i["id"] for i in olds if i["id"] != keep]
    case_findings = [f for i in olds for f in by_incident[i["id"]]]
    status = max((i["status"] for i in olds), key=_status_rank)
    _insert_clauses(bind, keep, olds, by_incident)
    for table in (_findings, _events, _outbox):
        if folded:
            bind.execute(sa.update(table).where(table.c.incident_id.in_(folded))
                         .values(incident_id=keep))
    for old in sorted(olds, key=lambda i: i["id"]):
        was = f"{old['policy']} · {old['term_group']} · {old['engine']}"
        if old["id"] != keep:
            bind.execute(sa.insert(_aliases).values(old_id=old["id"], incident_id=keep, was=was))
        bind.execute(sa.insert(_events).values(
            incident_id=keep, at=now, status_from=old["status"], status_to=status,
            note=f"folded into this case: incident {old['id']} ({was}), {old['status']}"))
    if folded:
        bind.execute(sa.delete(_incidents).where(_incidents.c.id.in_(folded)))
    sightings = {f["sighting_id"] for f in case_findings}
    bind.execute(sa.update(_incidents).where(_incidents.c.id == keep).values(
        key=key, destination=destination, network=network,
        severity=max((i["severity"] for i in olds), key=_severity_rank),
        status=status, level=max(i["level"] for i in olds),
        first_seen=min(_aware(i["first_seen"]) for i in olds),
        last_seen=max(_aware(i["last_seen"]) for i in olds),
        sighting_count=len(sightings) or max(i["sighting_count"] for i in olds),
        markets_json=_union(i["markets_json"] for i in olds),
        devices_json=_union(i["devices_json"] for i in olds),
        engines_json=json.dumps(sorted({i["engine"] for i in olds})),
        term_groups_json=json.dumps(sorted({i["term_group"] for i in olds})),
    ))


def _insert_clauses(
    bind: sa.Connection, keep: int, olds: list[Any], by_incident: dict[int, list[Any]]
) -> None:
    by_policy: dict[str, list[Any]] = defaultdict(list)
    for old in olds:
        by_policy[old["policy"]].append(old)
    for policy, incidents in sorted(by_policy.items()):
        found = [f for i in incidents for f in by_incident[i["id"]]]
        clause = next((f["clause"] for f in found if f["clause"]), None)
        bind.execute(sa.insert(_clauses).values(
            incident_id=keep, policy=policy,
            title=next((i["title"] for i in incidents if i["title"]), ""),
            severity=max((i["severity"] for i in incidents), key=_severity_rank),
            clause=clause, agreement_version=None,
            first_seen=min(_aware(i["first_seen"]) for i in incidents),
            last_seen=max(_aware(i["last_seen"]) for i in incidents),
            sighting_count=len({f["sighting_id"] for f in found})
            or sum(i["sighting_count"] for i in incidents),
        ))


def _status_rank(status: str) -> int:
    return STATUS_ORDER.index(status) if status in STATUS_ORDER else 0


def _severity_rank(severity: str) -> int:
    return SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else 0


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _union(raws: Any) -> str:
    values: set[str] = set()
    for raw in raws:
        values.update(json.loads(raw or "[]"))
    return json.dumps(sorted(values))
