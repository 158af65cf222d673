"""Settings from environment variables; every path Holdout writes lives under HOLDOUT_HOME."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    """Resolved locations of all Holdout state. Build one with :func:`get_settings`."""

    home: Path
    project_root: Path = PROJECT_ROOT
    mlflow_tracking_uri_override: str | None = None

    @property
    def has_model_registry(self) -> bool:
        """Whether the home has an MLflow store to read (or another tracking URI is set): reading one that does
        not exist would create an empty one."""
        return bool(self.mlflow_tracking_uri_override) or (self.mlflow_dir / "mlflow.db").exists()

    def stored_path(self, path: Path) -> str:
        """How a ledger or a file of the home stores a path: relative to HOLDOUT_HOME when inside it (a moved home
        still finds its files), else absolute."""
        try:
            return Path(path).relative_to(self.home).as_posix()
        except ValueError:
            return str(path)

    def resolve_stored(self, stored: str) -> Path:
        """A stored path on this HOLDOUT_HOME. Rows written before paths were relative hold absolute paths: one that
        no longer exists (the home was moved) is found again under this home by its first folder of the home's
        layout (`reports/`, `outbox/`, `launches/`)."""
        path = Path(stored)
        if not path.is_absolute():
            return self.home / path
        if not path.exists():
            for i, part in enumerate(path.parts):
                if part in ("reports", "outbox", "launches") and (self.home / Path(*path.parts[i:])).exists():
                    return self.home / Path(*path.parts[i:])
        return path

    @property
    def raw_dir(self) -> Path:
        return self.home / "raw"

    @property
    def ground_truth_dir(self) -> Path:
        return self.home / "ground_truth"

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def landing_zone_replaced_marker(self) -> Path:
        """Present when `holdout generate` replaced the landing zone under an existing warehouse: the next build
        reloads every part file (a full refresh) instead of refusing the regenerated files as rewritten."""
        return self.home / "landing_zone_replaced"

    @property
    def mlflow_dir(self) -> Path:
        return self.home / "mlflow"

    @property
    def mlflow_tracking_uri(self) -> str:
        return self.mlflow_tracking_uri_override or f"sqlite:///{self.mlflow_dir / 'mlflow.db'}"

    @property
    def mlflow_artifacts_dir(self) -> Path:
        return self.mlflow_dir / "artifacts"

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    @property
    def outbox_dir(self) -> Path:
        return self.home / "outbox"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def dbt_project_dir(self) -> Path:
        return self.project_root / "dbt_project"

    @property
    def dbt_target_dir(self) -> Path:
        """dbt's target of the builds (`holdout build`: into the staged copy of the warehouse)."""
        return self.home / "dbt_target"

    @property
    def dbt_live_target_dir(self) -> Path:
        """dbt's target of the runs on the live warehouse (the ML feature builds). dbt keeps its saved parse only
        while the profile's connection (the DuckDB file) stays the same, so the two kinds of run keep one each."""
        return self.dbt_target_dir / "live"

    @property
    def dbt_read_only_target_dir(self) -> Path:
        """dbt's target of `holdout dbt` (the live warehouse through the read-only profile output: a saved parse of
        its own, else every call and every ML run would re-parse for the other's profile)."""
        return self.dbt_target_dir / "read_only"

    @property
    def segments_dir(self) -> Path:
        return Path(os.environ.get("HOLDOUT_SEGMENTS_DIR", self.dbt_project_dir / "segments"))

    @property
    def campaigns_dir(self) -> Path:
        return Path(os.environ.get("HOLDOUT_CAMPAIGNS_DIR", self.project_root / "campaigns"))

    @property
    def expectations_dir(self) -> Path:
        return self.project_root / "expectations"


# characters a HOLDOUT_HOME path may not hold: the dbt sources read the landing zone through quoted glob patterns
# (`read_csv('<home>/raw/crm/customers/*.csv')`), where a quote ends the text and `*?[]{}` match other folders
# (`#` ends dbt-duckdb's path, and DuckDB reads a backslash as a path separator)
UNSAFE_HOME_CHARACTERS = "'*?[]{}#\\\n\r"


class HomePathError(ValueError):
    """HOLDOUT_HOME names a path Holdout cannot read its landing zone from."""


def get_settings() -> Settings:
    """Read settings from the environment (HOLDOUT_HOME, HOLDOUT_MLFLOW_TRACKING_URI)."""
    home = Path(os.environ.get("HOLDOUT_HOME", Path.cwd() / ".holdout")).resolve()
    unsafe = sorted({c for c in str(home) if c in UNSAFE_HOME_CHARACTERS})
    if unsafe:
        raise HomePathError(
            f"HOLDOUT_HOME {str(home)!r} holds {' '.join(map(repr, unsafe))}: the warehouse reads the landing zone "
            "through quoted file patterns, where these characters change what is read; move the home to a path "
            "without them (a HOLDOUT_HOME can be moved)"
        )
    return Settings(home=home, mlflow_tracking_uri_override=os.environ.get("HOLDOUT_MLFLOW_TRACKING_URI"))
