"""Helpers for the what-if tests (diff, replay, preview): a copy of the example program with
a change made to its YAML, as compliance staff would make it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules"

#: the program's files by name (brands, markets, partners, policies, agreements, program)
Documents = dict[str, Any]


def changed_rules(target: Path, edit: Callable[[Documents], None]) -> Path:
    """A copy of rules/ at `target` with `edit` applied to its parsed files (by stem)."""
    shutil.copytree(RULES, target)
    documents = {p.stem: yaml.safe_load(p.read_text(encoding="utf-8"))
                 for p in sorted(target.glob("*.yaml"))}
    edit(documents)
    for stem, document in documents.items():
        (target / f"{stem}.yaml").write_text(yaml.safe_dump(document, allow_unicode=True,
                                                            sort_keys=False), encoding="utf-8")
    return target


def policy(documents: Documents, policy_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(p for p in documents["policies"]["policies"]
                                 if p["id"] == policy_id)
    return found


def agreement(documents: Documents, partner: str) -> dict[str, Any]:
    found: dict[str, Any] = next(a for a in documents["agreements"]["agreements"]
                                 if a["partner"] == partner)
    return found


def partner(documents: Documents, partner_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(p for p in documents["partners"]["partners"]
                                 if p["id"] == partner_id)
    return found


def conforms(document: dict[str, Any]) -> None:
    """Check a printed --json object against the shape its `schema` names."""
    from monitor.cli.schemas import validate

    validate(document)
