"""The Hillstrom e-mail experiment as two closed campaigns, measured with the campaign code.

Kevin Hillstrom's MineThatData test (64,000 customers; arms ``Mens E-Mail``, ``Womens E-Mail``, ``No E-Mail``)
is the one public randomized marketing experiment with a money outcome, so it proves the uplift and persona
code on real behaviour: each e-mail arm against the shared ``No E-Mail`` control is one campaign.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from holdout.measure.learners import UPLIFT_AT_K, fit_uplift, uplift_metrics
from holdout.measure.personas import Persona, find_personas
from holdout.measure.uplift import (
    ConversionResult,
    UpliftResult,
    holm_adjusted,
    measure_conversion,
    measure_uplift,
)

HILLSTROM_COLUMNS = (
    "recency",
    "history_segment",
    "history",
    "mens",
    "womens",
    "zip_code",
    "newbie",
    "channel",
    "segment",
    "visit",
    "conversion",
    "spend",
)
HILLSTROM_CONTROL = "No E-Mail"
HILLSTROM_CAMPAIGNS = ("Mens E-Mail", "Womens E-Mail")
HILLSTROM_FEATURES = ("recency", "history_segment", "mens", "womens", "zip_code", "newbie", "channel")
# The uplift models also see the dollar history behind history_segment (the pre-treatment profile in full).
HILLSTROM_MODEL_FEATURES = HILLSTROM_COLUMNS[: HILLSTROM_COLUMNS.index("segment")]
ANY_EMAIL = "Any E-Mail"  # every e-mail arm pooled against the control
# Which uplift models the experiment fits: (treated arm, outcome). Womens/visit is the published benchmark
# (scikit-uplift's tutorial); spend for any e-mail is the money question.
UPLIFT_MODELS = (
    ("Womens E-Mail", "visit"),
    ("Womens E-Mail", "spend"),
    ("Mens E-Mail", "visit"),
    ("Mens E-Mail", "spend"),
    (ANY_EMAIL, "visit"),
    (ANY_EMAIL, "spend"),
)
_DTYPES = {
    "recency": "int64",
    "history": "float64",
    "mens": "int64",
    "womens": "int64",
    "newbie": "int64",
    "visit": "int64",
    "conversion": "int64",
    "spend": "float64",
    "history_segment": "string",
    "zip_code": "string",
    "channel": "string",
    "segment": "string",
}


def load_hillstrom(csv_path: str | Path) -> pd.DataFrame:
    """Read the Hillstrom CSV with checked columns and types (values untouched)."""
    path = Path(csv_path)
    if not path.exists():
        raise FileNotFoundError(f"Hillstrom data not found at {path}")
    try:
        frame = pd.read_csv(path, dtype=_DTYPES)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        # not CSV, empty, not UTF-8, or a column that is not of its type (a word in `spend`)
        raise ValueError(f"{path}: not a readable Hillstrom CSV: {str(exc).splitlines()[0]}") from None
    missing = [c for c in HILLSTROM_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: not the Hillstrom file, columns missing: {missing}")
    arms = set(frame["segment"].unique())
    expected = {HILLSTROM_CONTROL, *HILLSTROM_CAMPAIGNS}
    if arms != expected:
        raise ValueError(f"{path}: column segment holds {sorted(arms)}, expected {sorted(expected)}")
    if frame[list(HILLSTROM_COLUMNS)].isna().any().any():
        raise ValueError(f"{path}: unexpected missing values")
    return frame[list(HILLSTROM_COLUMNS)]


def arm_summary(frame: pd.DataFrame, arm_col: str = "segment") -> pd.DataFrame:
    """Per arm: customers, visits, conversions, spend and their per-customer rates (plain means)."""
    rows = []
    for arm in sorted(frame[arm_col].unique()):
        sub = frame[frame[arm_col] == arm]
        n = len(sub)
        visits, conversions = int(sub["visit"].sum()), int(sub["conversion"].sum())
        rows.append(
            {
                "arm": arm,
                "customers": n,
                "visits": visits,
                "visit_rate": visits / n,
                "conversions": conversions,
                "conversion_rate": conversions / n,
                "spend_total": float(sub["spend"].sum()),
                "spend_per_customer": float(sub["spend"].mean()),
            }
        )
    return pd.DataFrame(rows).set_index("arm")


@dataclass
class CampaignMeasurement:
    """One e-mail arm against the control: the three metrics and the personas per outcome."""

    campaign: str
    control: str
    spend: UpliftResult
    visit: ConversionResult
    conversion: ConversionResult
    personas: dict[str, list[Persona]] = field(default_factory=dict)

    @property
    def results(self) -> list[UpliftResult | ConversionResult]:
        return [self.spend, self.conversion, self.visit]

    @property
    def metrics(self) -> dict[str, UpliftResult | ConversionResult]:
        return {"visit": self.visit, "conversion": self.conversion, "spend": self.spend}


@dataclass(frozen=True)
class UpliftModelResult:
    """A per-customer uplift model (DR-learner) fitted on one half of the experiment, scored on the other."""

    treated: str
    control: str
    outcome: str
    n_train: int
    n_heldout: int
    qini: float
    auuc: float
    uplift_at: dict[float, float]
    seconds: float


@dataclass
class ExperimentResult:
    arms: pd.DataFrame
    campaigns: dict[str, CampaignMeasurement]
    persona_features: tuple[str, ...]
    seed: int
    min_group_size: int
    uplift_models: list[UpliftModelResult] = field(default_factory=list)


def fit_experiment_uplift(
    frame: pd.DataFrame,
    treated: str,
    outcome: str,
    *,
    arm_col: str = "segment",
    control: str = HILLSTROM_CONTROL,
    features: Sequence[str] = HILLSTROM_MODEL_FEATURES,
    test_size: float = 0.5,
    random_state: int = 42,
    seed: int = 0,
) -> UpliftModelResult:
    """Fit an uplift model of ``treated`` (an arm, or ``ANY_EMAIL`` for every arm but the control) against
    ``control`` on a ``1 - test_size`` share and score it on the rest (Qini, AUUC, uplift@10/20/30%).

    The split is scikit-learn's ``train_test_split(random_state=42)`` stratified by arm and response (for a
    money outcome, by arm and any spend), as in scikit-uplift's Hillstrom tutorial, so the held-out figures
    compare with its published ones.
    """
    import time

    from sklearn.model_selection import train_test_split

    pair = frame if treated == ANY_EMAIL else frame[frame[arm_col].isin([treated, control])]
    pair = pair.reset_index(drop=True)
    t = (pair[arm_col] != control).to_numpy()
    y = pair[outcome].to_numpy(dtype="float64")
    strata = t.astype(int) * 2 + (y > 0)
    train, held = train_test_split(
        np.arange(len(pair)), test_size=test_size, random_state=random_state, stratify=strata
    )
    x = pair[list(features)]
    started = time.perf_counter()
    model = fit_uplift(x.iloc[train], t[train], y[train], seed=seed)
    pred = model.predict(x.iloc[held])
    seconds = time.perf_counter() - started
    scores = uplift_metrics(y[held], pred, t[held])
    return UpliftModelResult(
        treated=treated,
        control=control,
        outcome=outcome,
        n_train=len(train),
        n_heldout=len(held),
        qini=scores["qini"],
        auuc=scores["auuc"],
        uplift_at={k: scores[f"uplift_at_{round(k * 100)}"] for k in UPLIFT_AT_K},
        seconds=seconds,
    )


def measure_experiment(
    frame: pd.DataFrame,
    *,
    arm_col: str = "segment",
    control: str = HILLSTROM_CONTROL,
    campaigns: Sequence[str] = HILLSTROM_CAMPAIGNS,
    persona_features: Sequence[str] = HILLSTROM_FEATURES,
    persona_outcomes: Sequence[str] = ("spend", "visit"),
    seed: int = 0,
    min_group_size: int = 500,
    n_boot: int = 2000,
    uplift_models: Sequence[tuple[str, str]] = UPLIFT_MODELS,
) -> ExperimentResult:
    """Measure every campaign arm against ``control``: spend uplift (Welch + bootstrap cross-check), visit and
    conversion uplift (Newcombe), personas for each of ``persona_outcomes``, and the per-customer uplift
    models of ``uplift_models`` ((treated arm, outcome) pairs, held-out half; see `fit_experiment_uplift`)."""
    out: dict[str, CampaignMeasurement] = {}
    ctrl = frame[frame[arm_col] == control]
    if ctrl.empty:
        raise ValueError(f"no customers in the control arm {control!r}")
    for name in campaigns:
        test = frame[frame[arm_col] == name]
        if test.empty:
            raise ValueError(f"no customers in the arm {name!r}")
        spend = measure_uplift(
            test["spend"],
            ctrl["spend"],
            n_boot=n_boot,
            seed=seed,
            responded_test=test["conversion"],
            responded_control=ctrl["conversion"],
            metric="spend",
        )
        visit = measure_conversion(test["visit"], ctrl["visit"], metric="visit")
        conversion = measure_conversion(test["conversion"], ctrl["conversion"], metric="conversion")
        pair = frame[frame[arm_col].isin([name, control])]
        personas = {
            outcome: find_personas(
                pair,
                treatment_col=arm_col,
                treated_value=name,
                outcome_col=outcome,
                feature_cols=list(persona_features),
                seed=seed,
                min_group_size=min_group_size,
            )
            for outcome in persona_outcomes
        }
        out[name] = CampaignMeasurement(name, control, spend, visit, conversion, personas)
    models = [
        fit_experiment_uplift(frame, treated, outcome, arm_col=arm_col, control=control, seed=seed)
        for treated, outcome in uplift_models
    ]
    return ExperimentResult(
        arm_summary(frame, arm_col), out, tuple(persona_features), seed, min_group_size, models
    )


def _ci(r, scale: float = 1.0, digits: int = 3, unit: str = "") -> str:
    return f"{r.uplift * scale:+.{digits}f}{unit} [{r.ci_low * scale:+.{digits}f}, {r.ci_high * scale:+.{digits}f}]"


def _p(p: float) -> str:
    return "< 0.0001" if p < 1e-4 else f"{p:.4f}"


def holm_p_values(result: ExperimentResult) -> dict[tuple[str, str], float]:
    """Holm-adjusted p-values over every campaign-level comparison of the summary (each e-mail x visit,
    conversion, spend), keyed by (campaign, metric): the table reports them all, so they are corrected together."""
    keys = [(name, metric) for name, m in result.campaigns.items() for metric in m.metrics]
    raw = np.array([result.campaigns[name].metrics[metric].p_value for name, metric in keys])
    return dict(zip(keys, holm_adjusted(np.nan_to_num(raw, nan=1.0)), strict=True))


def render_experiment_markdown(result: ExperimentResult, currency: str = "$") -> str:
    """Markdown summary: per-arm figures, uplift with 95% intervals, and the persona tables."""
    lines = [
        "### Per arm",
        "",
        "| arm | customers | visit rate | conversion rate | spend per customer |",
        "|---|---:|---:|---:|---:|",
    ]
    for arm, r in zip(result.arms.index, result.arms.itertuples(index=False), strict=True):
        lines.append(
            f"| {arm} | {int(r.customers):,} | {100 * r.visit_rate:.2f}% | {100 * r.conversion_rate:.3f}% "
            f"| {currency}{r.spend_per_customer:.4f} |"
        )
    lines += [
        "",
        "### Uplift vs No E-Mail (95% intervals)",
        "",
        "| campaign | visit rate (pp) | conversion rate (pp) | spend per customer | p (spend) "
        "| Holm p: visit, conversion, spend | incremental spend |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    holm = holm_p_values(result)
    for name, m in result.campaigns.items():
        adjusted = ", ".join(_p(holm[name, metric]) for metric in m.metrics)
        lines.append(
            f"| {name} | {_ci(m.visit, 100, 2)} | {_ci(m.conversion, 100, 3)} | {_ci(m.spend, 1, 3)} "
            f"| {_p(m.spend.p_value)} | {adjusted} | {currency}{m.spend.incremental_revenue:,.0f} |"
        )
    lines += [
        "",
        f"Holm p: Holm's correction over all {len(holm)} comparisons of this table, so the chance of any false "
        "claim among them is at most 5% where an adjusted p is below 0.05.",
    ]
    boot = [(n, m.spend) for n, m in result.campaigns.items() if m.spend.bootstrap_ci_low is not None]
    if boot:
        lines += [
            "",
            "Spend: Welch interval; bootstrap percentile cross-check: "
            + "; ".join(f"{n} [{s.bootstrap_ci_low:+.3f}, {s.bootstrap_ci_high:+.3f}]" for n, s in boot)
            + ".",
        ]
    if result.uplift_models:
        lines += [
            "",
            "### Uplift models (DR-learner on LightGBM; trained on half, scored on the held-out half)",
            "",
            "| treated vs control | outcome | train / held-out | Qini | AUUC | uplift@10% | uplift@20% | uplift@30% |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for u in result.uplift_models:
            at = " | ".join(f"{u.uplift_at[k]:+.4f}" for k in UPLIFT_AT_K)
            lines.append(
                f"| {u.treated} vs {u.control} | {u.outcome} | {u.n_train:,} / {u.n_heldout:,} "
                f"| {u.qini:+.4f} | {u.auuc:+.4f} | {at} |"
            )
        lines += [
            "",
            "Qini and AUUC are normalized as scikit-uplift's `qini_auc_score` / `uplift_auc_score` (1 = perfect "
            "order, 0 = random); uplift@k as its `uplift_at_k(strategy='overall')` (visit: share points as a "
            "fraction; spend: dollars per customer).",
        ]
    lines += [
        "",
        f"### Personas (discovery/estimation halves, seed {result.seed}, at least "
        f"{result.min_group_size} customers per arm per group)",
    ]
    for name, m in result.campaigns.items():
        for outcome, personas in m.personas.items():
            pct = outcome != "spend"
            unit = "pp" if pct else "per customer"
            lines += [
                "",
                f"**{name}, {outcome}**",
                "",
                f"| persona | definition | test / control | uplift ({unit}) [simultaneous 95%] | p | verdict | action |",
                "|---|---|---:|---:|---:|---|---|",
            ]
            for p in personas:
                scale, digits = (100, 2) if pct else (1, 3)
                verdict = p.verdict.replace("_", " ") + (" (harmful)" if p.harmful else "")
                lines.append(
                    f"| {p.persona_id} | {p.definition} | {p.n_test:,} / {p.n_control:,} "
                    f"| {_ci(p, scale, digits)} | {_p(p.p_value)} | {verdict} | {p.recommendation} |"
                )
    return "\n".join(lines) + "\n"


def write_experiment_reports(
    result: ExperimentResult, out_dir: str | Path, outcome: str = "spend"
) -> list[Path]:
    """One HTML report per campaign arm (personas for ``outcome``), via the campaign report renderer."""
    from holdout.measure.report import render_campaign_report

    paths = []
    total = int(result.arms["customers"].sum())
    for name, m in result.campaigns.items():
        funnel = [
            ("customers in the experiment", total),
            (f"{name} or {m.control}", m.spend.n_test + m.spend.n_control),
            (f"test ({name})", m.spend.n_test),
            (f"control ({m.control})", m.spend.n_control),
        ]
        slug = name.lower().replace(" ", "_").replace("-", "")
        paths.append(
            render_campaign_report(
                Path(out_dir) / f"hillstrom_{slug}.html",
                campaign={
                    "name": f"Hillstrom: {name} vs {m.control}",
                    "source": "MineThatData e-mail test (2008)",
                    "response_window": "2 weeks",
                    "currency": "USD",
                    "personas_on": outcome,
                },
                results=m.results,
                personas=m.personas.get(outcome, []),
                funnel=funnel,
            )
        )
    return paths


def main(argv: Sequence[str] | None = None) -> None:
    """Print the markdown summary for ``argv = [hillstrom.csv, (report_dir)]`` and write the HTML reports.

    ``python -c "from holdout.measure.experiment import main; main()" hillstrom.csv reports/``
    """
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        raise SystemExit("usage: main([<hillstrom.csv>, <report_dir>])")
    result = measure_experiment(load_hillstrom(args[0]))
    print(render_experiment_markdown(result))
    if len(args) > 1:
        for p in write_experiment_reports(result, args[1]):
            print(f"wrote {p}")
