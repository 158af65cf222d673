"""Score customers with each model's champion into the `ops.model_scores` ledger."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd

from holdout.config import Settings
from holdout.warehouse import as_of_date, connect
from ml import registry
from ml.config import load_specs
from ml.features import SCHEMA, ensure_features, feature_matrix, load_scoring_frame

SCORE_COLUMNS = ["customer_id", "model", "model_version", "score", "decile", "scoring_date", "scored_at"]


@dataclass
class ScoreResult:
    model: str
    model_version: str
    scoring_date: date
    rows: int
    skipped: bool  # this version already scored this date

    def __str__(self) -> str:
        state = "already scored, nothing added" if self.skipped else f"{self.rows:,} scores added"
        return f"{self.model} v{self.model_version} on {self.scoring_date}: {state}"


def deciles(score: np.ndarray) -> np.ndarray:
    """1..10 by score, 10 = the highest tenth. Tied scores share a decile (their lowest), so the result does not
    depend on row order: the scoring query needs no sort."""
    if len(score) == 0:
        return np.array([], dtype=int)
    ranks = pd.Series(score).rank(method="min").to_numpy()
    return np.ceil(ranks * 10 / len(score)).astype(int).clip(1, 10)


def score_all(
    settings: Settings, scoring_date: date | None = None, progress: bool = True
) -> list[ScoreResult]:
    """Append each champion's scores for `scoring_date` (default and only allowed value: the as-of date of the
    features). Idempotent: a (model, version, date) already in the ledger adds nothing; all in one transaction."""
    specs = load_specs()
    as_of = as_of_date(settings)
    scoring_date = scoring_date or as_of
    if scoring_date != as_of:
        raise ValueError(
            f"cannot score {scoring_date}: the warehouse is as of {as_of} and features are point-in-time "
            f"(build the warehouse as of {scoring_date} first)"
        )
    # every champion must exist before anything is written
    champions = {name: registry.load_champion(name, settings) for name in specs}
    ensure_features(settings, specs, progress=progress)
    results: list[ScoreResult] = []
    scored_at = datetime.now(UTC).replace(tzinfo=None)
    with connect(settings=settings) as con:
        built = con.execute(f"select max(cutoff_date) from {SCHEMA}.ml_scoring_features").fetchone()[0]
        if built != scoring_date:
            raise RuntimeError(
                f"ml_scoring_features is as of {built}, not {scoring_date}: rebuild the ML features"
            )
        frames = []
        for name, (champion, booster) in champions.items():
            version = str(champion.version)
            started = time.perf_counter()
            exists = con.execute(
                "select count(*) from ops.model_scores where model = ? and model_version = ? and scoring_date = ?",
                [name, version, scoring_date],
            ).fetchone()[0]
            if exists:
                results.append(ScoreResult(name, version, scoring_date, 0, skipped=True))
                continue
            frame = load_scoring_frame(con, specs[name], booster.feature_name())
            score = (
                booster.predict(feature_matrix(frame, booster.feature_name())) if len(frame) else np.array([])
            )
            frames.append(
                pd.DataFrame(
                    {
                        "customer_id": frame["customer_id"],
                        "model": name,
                        "model_version": version,
                        "score": score,
                        "decile": deciles(score),
                        "scoring_date": scoring_date,
                        "scored_at": scored_at,
                    }
                )
            )
            results.append(ScoreResult(name, version, scoring_date, len(frame), skipped=False))
            if progress:
                print(
                    f"[{name}] scored {len(frame):,} customers with v{version} "
                    f"({time.perf_counter() - started:.1f}s)",
                    file=sys.stderr,
                    flush=True,
                )
        if frames:
            new_scores = pd.concat(frames, ignore_index=True)[SCORE_COLUMNS]
            con.begin()
            try:
                con.register("new_scores", new_scores)
                con.execute(
                    f"insert into ops.model_scores ({', '.join(SCORE_COLUMNS)}) "
                    f"select {', '.join(SCORE_COLUMNS)} from new_scores"
                )
                con.unregister("new_scores")
                con.commit()
            except Exception:
                con.rollback()
                raise
    return results
