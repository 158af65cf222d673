"""Would more profile features raise the persona feature ceiling? (issue 16). Reads `ground_truth/`.

    .venv/bin/python benchmarks/ceiling_features.py HOME [HOME ...] [--out results.json]

Each HOME is a demo home whose launches have ended (e.g. the ones `benchmarks/eval_personas.py --work` keeps).
For every ended launch it fits the feature ceiling of eval_personas.py (`learners.out_of_fold_predictions` on
each customer's *true* uplift, 2 folds) from three feature sets and reports the per-customer ranking value
(eval_personas.ranking_value) over the launch's test customers:

* `profile`: the profile snapshot at launch that close, the persona paths and the policy use
  (`audience.PROFILE_COLUMNS`);
* `+ml`: plus the point-in-time features of the predictive models at the launch date (`ml/models.yml`'s standard
  set: 90-day browsing, department shares, e-mail open and click rates over 90 days, order and session trends);
* `+ml+seasons`: plus two shares a retailer knows from its own calendar, over every order before the launch:
  orders placed in its gift seasons and in its sale periods (`generate.calendar.season_arrays`, the days with a
  non-zero intensity).

Beside each ceiling, the same launches' `model` method of eval_personas.py (`discover_personas` with the DR-learner,
per-customer predictions) from the `profile` and the `+ml` sets: whether a method that learns from the launch's
outcomes gains from the columns the ceiling gains from.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

SEED = 42
SETS = ("profile", "+ml", "+ml+seasons")
MODEL_SETS = ("profile", "+ml")
COLUMNS = (*SETS, *(f"model {name}" for name in MODEL_SETS))
SEASON_COLUMNS = ["gift_season_order_share", "sale_period_order_share"]


def season_days(first: date, last: date) -> pd.DataFrame:
    """Every day in [first, last] with whether it is in a gift season or a sale period."""
    from holdout.generate.calendar import season_arrays

    sale, gift = season_arrays(first, 0, (last - first).days + 1)
    days = [first + timedelta(days=i) for i in range(len(sale))]
    return pd.DataFrame({"day": days, "is_gift_season": gift > 0, "is_sale_period": sale > 0})


def season_shares(con: duckdb.DuckDBPyConnection, launch_date: date) -> pd.DataFrame:
    """Per customer, the shares of their orders before `launch_date` placed in gift seasons and sale periods."""
    first = con.execute("select min(ordered_at)::date from intermediate.int_order_lines_enriched").fetchone()[
        0
    ]
    calendar = season_days(first, launch_date)  # noqa: F841  (read by the query below)
    return con.execute(
        """
        with orders as (
            select customer_id, min(ordered_at)::date as day
            from intermediate.int_order_lines_enriched
            where ordered_at < ?
            group by order_id, customer_id
        )
        select customer_id,
               avg(is_gift_season::double) as gift_season_order_share,
               avg(is_sale_period::double) as sale_period_order_share
        from orders join calendar using (day)
        group by customer_id
        """,
        [launch_date],
    ).df()


def evaluate_home(home: Path) -> list[dict]:
    os.environ["HOLDOUT_HOME"] = str(home)
    from eval_personas import launch_frame, ranking_value

    from holdout.campaigns.close import SEED as CLOSE_SEED
    from holdout.config import get_settings
    from holdout.measure.learners import out_of_fold_predictions
    from holdout.measure.personas import discover_personas
    from holdout.warehouse import as_of_date
    from ml.config import load_specs

    settings = get_settings()
    ml_features = list(load_specs()["purchase_14d"].features)
    effects = pd.read_parquet(settings.ground_truth_dir / "campaign_effects.parquet")
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    rows = []
    try:
        launches = con.execute(
            "select launch_id, campaign_id, launch_date from ops.campaign_launches "
            "where status = 'launched' and window_end <= ? order by launch_date, campaign_id",
            [as_of_date(settings)],
        ).fetchall()
        for launch_id, campaign_id, launch_date in launches:
            frame, truth, base = launch_frame(settings, con, launch_id, effects)
            at_launch = con.execute(
                "select * from ml_features.ml_features_at_cutoffs where cutoff_date = ?", [launch_date]
            ).df()
            if at_launch.empty:  # else `+ml` would silently be the profile set
                raise SystemExit(
                    f"{home}: no model features at cutoff {launch_date} (run `holdout train` first)"
                )
            extra = [c for c in ml_features if c not in frame.columns]
            frame = frame.merge(at_launch[["customer_id", *extra]], on="customer_id", how="left")
            frame = frame.merge(season_shares(con, launch_date), on="customer_id", how="left")
            test = (frame["group"] == "test").to_numpy()
            columns = {"profile": base, "+ml": base + extra, "+ml+seasons": base + extra + SEASON_COLUMNS}
            row = {"home": str(home), "launch_id": launch_id, "campaign_id": campaign_id, "n": len(frame)}
            for name in SETS:
                scores = out_of_fold_predictions(frame[columns[name]], truth, SEED)
                row[name] = ranking_value(scores[test], truth[test])
            for name in MODEL_SETS:
                found = discover_personas(
                    frame,
                    treatment_col="group",
                    outcome_col="revenue",
                    feature_cols=columns[name],
                    seed=CLOSE_SEED,
                    use_model=True,
                )
                # too small for a model: the search's groups, no per-customer ranking to score (null, not counted)
                if found.predictions is None:
                    row[f"model {name}"] = float("nan")
                else:
                    row[f"model {name}"] = ranking_value(found.predictions[test], truth[test])
            row["features"] = {name: len(columns[name]) for name in SETS}
            rows.append(row)
            print(
                f"  {launch_id}: " + ", ".join(f"{n} {row[n]:+.3f}" for n in COLUMNS),
                file=sys.stderr,
                flush=True,
            )
    finally:
        con.close()
    return rows


def table(rows: list[dict]) -> str:
    frame = pd.DataFrame(rows)
    by_campaign = frame.groupby("campaign_id")[list(COLUMNS)].mean()
    lines = [
        "| campaign | launches | "
        + " | ".join(f"ceiling {n}" for n in SETS)
        + " | "
        + " | ".join(COLUMNS[len(SETS) :])
        + " |",
        "|---|---:|" + "---:|" * len(COLUMNS),
    ]
    launches = frame.groupby("campaign_id").size()
    counts = frame.groupby("campaign_id")[list(COLUMNS)].count()  # launches with a figure, per column
    for campaign, values in by_campaign.iterrows():
        n = launches[campaign]
        cells = " | ".join(
            f"{values[c]:+.3f}" + ("" if counts.at[campaign, c] == n else f" ({counts.at[campaign, c]})")
            for c in COLUMNS
        )
        lines.append(f"| {campaign} | {n} | {cells} |")
    means = " | ".join(f"**{by_campaign[n].mean():+.3f}**" for n in COLUMNS)
    lines.append(f"| mean over campaigns | {len(frame)} | {means} |")
    lines += ["", "(k): the mean over the k launches with a figure; the others were too small for a model."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("homes", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    args = parser.parse_args()
    rows = []
    for home in args.homes:
        print(f"{home}:", file=sys.stderr, flush=True)
        rows += evaluate_home(home.resolve())
    if args.out:  # strict JSON: a launch without a model has null, not NaN
        clean = [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()} for r in rows]
        args.out.write_text(json.dumps(clean, indent=1, allow_nan=False))
    print(table(rows))


if __name__ == "__main__":
    main()
