"""The shape `bidwatch users list --json` prints (for monitor.cli.schemas.SCHEMAS)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class ConsoleUserOut(BaseModel):
    """`users list --json`: one object per user (no secret of theirs, ever)."""

    model_config = ConfigDict(extra="forbid")

    schema_: Literal["console-user/1"]
    name: str
    role: Literal["viewer", "reviewer", "admin"]
    created_at: str
    disabled: bool
