"""A staged launch: the one owner of `HOLDOUT_HOME/launches/<launch_id>/`.

Planning writes a launch's files once; later steps add their own file and never rewrite another step's:

| file | written by | content |
|---|---|---|
| `plan.json` | `write_plan` (planning) | `LaunchPlan`: campaign, dates, channel, spec, priority, sizes |
| `audience.parquet` | `write_plan`; `replace_audience` (demo fault injection only) | customer_id, group, u, profile snapshot |
| `funnel.json` | `write_plan` | eligibility steps and counts |
| `balance.json` | `write_plan` | covariate balance (SMD) and minimum detectable uplift |
| `fault.json` | `replace_audience` | the demo/testing fault injected after planning, if any |
| `gate.json`, `gate_summary.txt` | `write_gate` | `GateRecord`: the gate's verdict on exactly this audience (its SHA-256) |
| `timings.json` | `add_timing` | seconds per step (plan, gate, record) |

Every other module (launch, close, the demo's fault injection, benchmarks) reads and writes these files only
through the functions here.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from holdout.campaigns.export import file_sha256
from holdout.campaigns.gate import GateResult
from holdout.config import Settings

PLAN, AUDIENCE, FUNNEL, BALANCE = "plan.json", "audience.parquet", "funnel.json", "balance.json"
FAULT, GATE, GATE_SUMMARY, TIMINGS = "fault.json", "gate.json", "gate_summary.txt", "timings.json"


class LaunchPlan(BaseModel):
    """What planning decided for one launch (plan.json)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    launch_id: str
    campaign_id: str
    launch_date: date
    window_end: date
    channel: str
    control_share: float = Field(gt=0, lt=1)
    spec: dict[str, Any]
    priority_rank: int = Field(ge=1)
    planned_together: list[str]
    audience_size: int = Field(ge=0)
    test_size: int = Field(ge=0)
    control_size: int = Field(ge=0)
    planned_at: datetime
    audience_sha256: str

    @property
    def offer_code(self) -> str | None:
        return (self.spec.get("offer") or {}).get("code")


class GateRecord(BaseModel):
    """The activation gate's verdict on one staged audience (gate.json)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    launch_id: str
    success: bool
    rows: int
    parameters: dict[str, Any]
    failures: list[dict[str, Any]]
    statistics: dict[str, Any]
    data_docs: str | None  # relative to HOLDOUT_HOME (older launches: absolute)
    audience_sha256: str


class NotPlanned(FileNotFoundError):
    """The launch has no staged plan (never planned, or its folder was removed)."""


def launch_id_for(campaign_id: str, launch_date: date) -> str:
    """The one format of a launch id: `<campaign>-<YYYYMMDD>`."""
    return f"{campaign_id}-{launch_date:%Y%m%d}"


def campaign_of_launch(launch_id: str) -> str:
    """The campaign id of a launch id made by `launch_id_for` (campaign ids may contain hyphens)."""
    return launch_id.rpartition("-")[0]


def launch_dir(settings: Settings, launch_id: str) -> Path:
    return settings.home / "launches" / launch_id


def _write_text(path: Path, text: str) -> None:
    """Atomic: a reader (or a crash) never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _write_json(path: Path, body: Any) -> None:
    _write_text(path, json.dumps(body, indent=2, default=float))


def write_plan(
    settings: Settings, plan_fields: dict[str, Any], audience: pd.DataFrame, funnel: list[dict], balance: dict
) -> LaunchPlan:
    """Stage a freshly planned launch: every file of an earlier plan of the same launch is replaced or removed."""
    out = launch_dir(settings, plan_fields["launch_id"])
    out.mkdir(parents=True, exist_ok=True)
    for stale in (GATE, GATE_SUMMARY, FAULT, TIMINGS):
        (out / stale).unlink(missing_ok=True)
    tmp = out / f".{AUDIENCE}.tmp"
    audience.to_parquet(tmp, index=False)
    os.replace(tmp, out / AUDIENCE)
    _write_json(out / FUNNEL, funnel)
    _write_json(out / BALANCE, balance)
    plan = LaunchPlan(
        **plan_fields,
        planned_at=datetime.now(UTC).replace(microsecond=0),
        audience_sha256=file_sha256(out / AUDIENCE),
    )
    # plan.json last: a plan on disk means the whole launch is staged
    _write_text(out / PLAN, plan.model_dump_json(indent=2))
    return plan


def read_plan(settings: Settings, launch_id: str) -> LaunchPlan:
    path = launch_dir(settings, launch_id) / PLAN
    if not path.exists():
        raise NotPlanned(
            f"Launch {launch_id} is not planned ({path} missing; a discarded launch is under "
            f"{settings.home / 'discarded'}): run plan_launches first."
        )
    return LaunchPlan.model_validate_json(path.read_text())


def planned_spec_edits(settings: Settings, launch_id: str, current: dict[str, Any]) -> dict[str, Any]:
    """The spec fields `current` (a spec's `to_dict()`) holds with another value than the spec `launch_id` was
    planned with, as planned: field -> planned value. Fields of one side only (a release added or removed them) and
    the file's path are no edit. Raises NotPlanned (a subclass of OSError) when the plan is gone, ValueError when it
    cannot be read."""
    planned = read_plan(settings, launch_id).spec
    return {k: v for k, v in planned.items() if k != "path" and k in current and v != current[k]}


def launch_ids(settings: Settings) -> list[str]:
    """Every launch with a staged folder (planned, gated, recorded or abandoned), sorted."""
    root = settings.home / "launches"
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.exists() else []


def unrecorded(con: duckdb.DuckDBPyConnection, launch_ids: list[str]) -> list[str]:
    """The launch ids without a row in ops.campaign_launches or ops.campaign_launch_attempts: planned or gated,
    never recorded (a launch in progress, or one killed before its recording step)."""
    if not launch_ids:
        return []
    recorded = {
        r[0]
        for r in con.execute(
            """select launch_id from ops.campaign_launches where launch_id in (select unnest($ids))
               union select launch_id from ops.campaign_launch_attempts where launch_id in (select unnest($ids))""",
            {"ids": launch_ids},
        ).fetchall()
    }
    return [lid for lid in launch_ids if lid not in recorded]


def has_plan(settings: Settings, launch_id: str) -> bool:
    return (launch_dir(settings, launch_id) / PLAN).exists()


def read_audience(
    settings: Settings, launch_id: str, columns: list[str] | None = None
) -> pd.DataFrame | None:
    """The staged audience (profile snapshot at launch), or None when it is gone."""
    path = launch_dir(settings, launch_id) / AUDIENCE
    return pd.read_parquet(path, columns=columns) if path.exists() else None


def audience_sha256(settings: Settings, launch_id: str) -> str:
    return file_sha256(launch_dir(settings, launch_id) / AUDIENCE)


def replace_audience(settings: Settings, launch_id: str, audience: pd.DataFrame, fault: dict) -> None:
    """DEMO / TESTING ONLY: swap the staged audience after planning and record why in fault.json.

    The plan keeps the SHA-256 of the audience as planned; the gate fingerprints what it validates."""
    out = launch_dir(settings, launch_id)
    read_plan(settings, launch_id)  # only a planned launch can be corrupted
    (out / GATE).unlink(missing_ok=True)
    tmp = out / f".{AUDIENCE}.tmp"
    audience.to_parquet(tmp, index=False)
    os.replace(tmp, out / AUDIENCE)
    _write_json(out / FAULT, {**fault, "audience_sha256": file_sha256(out / AUDIENCE)})


def read_fault(settings: Settings, launch_id: str) -> dict | None:
    path = launch_dir(settings, launch_id) / FAULT
    return json.loads(path.read_text()) if path.exists() else None


def read_funnel(settings: Settings, launch_id: str) -> list[dict]:
    return json.loads((launch_dir(settings, launch_id) / FUNNEL).read_text())


def read_balance(settings: Settings, launch_id: str) -> dict | None:
    path = launch_dir(settings, launch_id) / BALANCE
    return json.loads(path.read_text()) if path.exists() else None


def write_gate(settings: Settings, result: GateResult, audience_sha: str) -> GateRecord:
    """Record the gate's verdict on the audience whose SHA-256 is `audience_sha` (gate.json + summary)."""
    out = launch_dir(settings, result.launch_id)
    record = GateRecord(
        launch_id=result.launch_id,
        success=result.success,
        rows=result.rows,
        parameters=result.parameters,
        failures=json.loads(json.dumps(result.failures, default=str)),
        statistics=json.loads(json.dumps(result.statistics, default=str)),
        # relative to HOLDOUT_HOME (Settings.stored_path), so a moved home still finds the page
        data_docs=settings.stored_path(Path(result.docs_path)) if result.docs_path else None,
        audience_sha256=audience_sha,
    )
    _write_text(out / GATE_SUMMARY, result.summary)
    _write_text(out / GATE, record.model_dump_json(indent=2))
    return record


def read_gate(settings: Settings, launch_id: str) -> GateRecord | None:
    path = launch_dir(settings, launch_id) / GATE
    return GateRecord.model_validate_json(path.read_text()) if path.exists() else None


def gate_summary_path(settings: Settings, launch_id: str) -> Path:
    return launch_dir(settings, launch_id) / GATE_SUMMARY


def add_timing(settings: Settings, launch_id: str, step: str, seconds: float) -> None:
    """Seconds a step took (`plan`, `gate`, `record`), kept beside the plan for benchmarks."""
    path = launch_dir(settings, launch_id) / TIMINGS
    timings = json.loads(path.read_text()) if path.exists() else {}
    timings[f"{step}_seconds"] = round(seconds, 3)
    _write_json(path, timings)


def read_timings(settings: Settings, launch_id: str) -> dict[str, float]:
    path = launch_dir(settings, launch_id) / TIMINGS
    return json.loads(path.read_text()) if path.exists() else {}
