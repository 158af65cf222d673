"""The policy on a real randomized experiment: which e-mail to send, judged offline by inverse propensity weighting.

On the Hillstrom test (arms ``Mens E-Mail``, ``Womens E-Mail``, ``No E-Mail``, each drawn with probability 1/3),
one 50/50 split (scikit-learn's ``train_test_split(random_state=42)``, stratified by arm and any spend, as in
`holdout.measure.experiment`) trains one uplift model per e-mail on the first half (the DR-learner of
`holdout.measure.learners`, spend against the shared control). Three policies are then compared on the held-out
half, whose customers no model saw:

- learned: the e-mail with the higher predicted uplift minus `cost`, none when both are below zero
  (`holdout.policy.decide` without exploration and without standard errors: the rule as this comparison is
  defined; the launch path differs in one respect, it sends a best value that is less than one standard error of
  its campaign's average below zero);
- better e-mail: everyone gets the e-mail whose spend uplift (difference of means) is higher on the training half;
- nothing.

Why IPW is unbiased here: the arm was drawn at random with known probability ``p(arm)``, independently of the
customer, so ``1[arm == policy(x)] * spend / p(arm)`` has, for every customer, the expectation of the spend they
would have had under the policy. Its mean over held-out customers is the policy's value; the value of sending
nothing, subtracted, gives incremental spend per customer. Intervals are percentile bootstraps over held-out
customers, each resample evaluating every policy on the same customers (so differences are paired).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from holdout.config import Settings
from holdout.measure.experiment import (
    HILLSTROM_CAMPAIGNS,
    HILLSTROM_CONTROL,
    HILLSTROM_MODEL_FEATURES,
)
from holdout.measure.learners import fit_uplift
from holdout.policy.decide import decide

NOTHING = "nothing"
LEARNED = "learned"
BETTER = "better e-mail"
# Bootstrap resamples are drawn in blocks so 2,000 resamples of 32,000 customers stay within a few MB.
_BOOT_BLOCK = 100


ARM_SHARE_TOLERANCE = 0.02  # an arm's share of the file may differ from 1/k by this much (Hillstrom: < 0.001)


@dataclass(frozen=True)
class PolicyValue:
    """A policy's incremental value per customer over sending nothing (95% bootstrap interval)."""

    policy: str
    incremental: float
    ci_low: float
    ci_high: float
    value: float  # IPW spend per customer under the policy
    sends: dict[str, int]  # held-out customers per arm the policy chooses


def ipw_contributions(
    arm: np.ndarray,
    outcome: np.ndarray,
    chosen: np.ndarray,
    propensity: Mapping[str, float],
    cost_of: Mapping[str, float] | None = None,
) -> np.ndarray:
    """Per customer: ``1[arm == chosen] * outcome / p(arm) - cost(chosen)``; their mean is the IPW value of the
    policy net of what its sends cost (`cost_of`: arm -> cost per send; arms not in it cost nothing)."""
    arm, chosen = np.asarray(arm, dtype=object), np.asarray(chosen, dtype=object)
    p = np.array([propensity[a] for a in arm], dtype="float64")
    gain = np.where(arm == chosen, np.asarray(outcome, dtype="float64") / p, 0.0)
    if not cost_of:
        return gain
    return gain - np.array([cost_of.get(c, 0.0) for c in chosen], dtype="float64")


def evaluate_policies(
    arm: np.ndarray,
    outcome: np.ndarray,
    choices: Mapping[str, np.ndarray],
    propensity: Mapping[str, float],
    *,
    baseline: str,
    n_boot: int = 2000,
    seed: int = 0,
    cost_of: Mapping[str, float] | None = None,
) -> dict[str, PolicyValue]:
    """IPW value of each policy in `choices` (its arm per customer), minus the value of `baseline` (a key of
    `choices`), with percentile intervals from `n_boot` paired bootstrap resamples of the customers."""
    if baseline not in choices:
        raise ValueError(f"baseline policy {baseline!r} is not among {sorted(choices)}")
    arms_seen = set(np.unique(np.asarray(arm, dtype=object)))
    if not arms_seen <= set(propensity):
        raise ValueError(f"no assignment probability for arms {sorted(arms_seen - set(propensity))}")
    names = list(choices)
    contrib = np.column_stack(
        [ipw_contributions(arm, outcome, choices[k], propensity, cost_of) for k in names]
    )
    diff = contrib - contrib[:, [names.index(baseline)]]
    n = len(diff)
    rng = np.random.default_rng(seed)
    boots = []
    for start in range(0, n_boot, _BOOT_BLOCK):
        # Multinomial counts are the bootstrap's resampling weights: same result as index draws, less memory.
        weights = rng.multinomial(n, np.full(n, 1.0 / n), size=min(_BOOT_BLOCK, n_boot - start))
        boots.append(weights @ diff / n)
    boot = np.vstack(boots)
    lo, hi = np.percentile(boot, [2.5, 97.5], axis=0)
    out = {}
    for j, name in enumerate(names):
        picked, counts = np.unique(np.asarray(choices[name], dtype=object), return_counts=True)
        out[name] = PolicyValue(
            policy=name,
            incremental=float(diff[:, j].mean()),
            ci_low=float(lo[j]),
            ci_high=float(hi[j]),
            value=float(contrib[:, j].mean()),
            sends={str(a): int(c) for a, c in zip(picked, counts, strict=True)},
        )
    return out


def paired_difference(
    arm: np.ndarray,
    outcome: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    propensity: Mapping[str, float],
    *,
    n_boot: int = 2000,
    seed: int = 0,
    cost_of: Mapping[str, float] | None = None,
) -> PolicyValue:
    """Value of policy `first` minus policy `second` per customer, with its paired bootstrap interval."""
    res = evaluate_policies(
        arm,
        outcome,
        {"first": first, "second": second},
        propensity,
        baseline="second",
        n_boot=n_boot,
        seed=seed,
        cost_of=cost_of,
    )
    return res["first"]


def evaluate_experiment(
    frame: pd.DataFrame,
    *,
    arm_col: str = "segment",
    outcome: str = "spend",
    control: str = HILLSTROM_CONTROL,
    emails: Sequence[str] = HILLSTROM_CAMPAIGNS,
    features: Sequence[str] = HILLSTROM_MODEL_FEATURES,
    cost: float = 0.0,
    test_size: float = 0.5,
    random_state: int = 42,
    seed: int = 0,
    n_boot: int = 2000,
) -> dict:
    """Train the e-mails' uplift models on one half of a three-arm randomized experiment and compare the learned,
    better-e-mail and nothing policies on the other half (module docstring). Returns a JSON-ready summary."""
    from sklearn.model_selection import train_test_split

    t0 = time.perf_counter()
    arms = [*emails, control]
    frame = frame.reset_index(drop=True)
    # Known by design: every arm was drawn with the same probability (refused when the file's shares say otherwise).
    propensity = {a: 1.0 / len(arms) for a in arms}
    arm = frame[arm_col].astype(str).to_numpy(dtype=object)
    shares = {a: float(np.mean(arm == a)) for a in arms}
    if any(abs(share - propensity[a]) > ARM_SHARE_TOLERANCE for a, share in shares.items()):
        raise ValueError(
            f"{arm_col}: the arms' shares {', '.join(f'{a} {v:.1%}' for a, v in shares.items())} are not the "
            f"equal split (1/{len(arms)} each) this evaluation assumes as the assignment probability"
        )
    y = frame[outcome].to_numpy(dtype="float64")
    strata = pd.Series(arm).map({a: i for i, a in enumerate(arms)}).to_numpy() * 2 + (y > 0)
    train, held = train_test_split(
        np.arange(len(frame)), test_size=test_size, random_state=random_state, stratify=strata
    )
    x = frame[list(features)]
    predicted = np.empty((len(held), len(emails)))
    training_uplift = {}
    for j, email in enumerate(emails):
        rows = train[np.isin(arm[train], [email, control])]
        t = arm[rows] == email
        model = fit_uplift(x.iloc[rows], t, y[rows], seed=seed)
        predicted[:, j] = model.predict(x.iloc[held])
        training_uplift[email] = float(y[rows][t].mean() - y[rows][~t].mean())

    ids = [str(i) for i in held]
    value = predicted - cost
    decisions = decide(
        ids,
        list(emails),
        np.ones_like(value, dtype=bool),
        value,
        np.ones(len(held)),  # no exploration: explore draws never below a zero share
        np.zeros(len(held)),
        explore_share=0.0,
    )
    learned = np.array([c if c is not None else control for c in decisions.choice], dtype=object)
    better = max(emails, key=lambda e: training_uplift[e])
    choices = {
        LEARNED: learned,
        BETTER: np.full(len(held), better, dtype=object),
        NOTHING: np.full(len(held), control, dtype=object),
    }
    cost_of = {email: cost for email in emails}  # every policy pays for its sends, as the learned one chose
    results = evaluate_policies(
        arm[held], y[held], choices, propensity, baseline=NOTHING, n_boot=n_boot, seed=seed, cost_of=cost_of
    )
    vs_better = paired_difference(
        arm[held], y[held], learned, choices[BETTER], propensity, n_boot=n_boot, seed=seed, cost_of=cost_of
    )
    summary = {
        "params": {
            "customers": len(frame),
            "train": len(train),
            "heldout": len(held),
            "outcome": outcome,
            "cost": cost,
            "random_state": random_state,
            "seed": seed,
            "n_boot": n_boot,
            "propensity": propensity,
        },
        "training_uplift": training_uplift,
        "better_email": better,
        "policies": {k: asdict(v) for k, v in results.items()},
        "learned_minus_better": asdict(vs_better),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    summary["markdown"] = render_markdown(summary)
    return summary


def render_markdown(summary: dict) -> str:
    """The comparison as a markdown table (incremental spend per held-out customer over sending nothing)."""
    p = summary["params"]
    lines = [
        f"Held-out half: {p['heldout']:,} customers (trained on {p['train']:,}; split random_state "
        f"{p['random_state']}); IPW with p(arm) = 1/{len(p['propensity'])}; cost per e-mail {p['cost']:g}; "
        f"{p['n_boot']:,} bootstrap resamples.",
        "",
        "| policy | incremental spend per customer [95%] | IPW spend per customer | e-mails sent |",
        "|---|---:|---:|---|",
    ]
    for name, r in summary["policies"].items():
        label = f"{name} ({summary['better_email']})" if name == BETTER else name
        sends = ", ".join(f"{a}: {c:,}" for a, c in sorted(r["sends"].items()))
        lines.append(
            f"| {label} | {r['incremental']:+.4f} [{r['ci_low']:+.4f}, {r['ci_high']:+.4f}] "
            f"| {r['value']:.4f} | {sends} |"
        )
    d = summary["learned_minus_better"]
    lines += [
        "",
        f"learned minus better e-mail: {d['incremental']:+.4f} [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}] "
        "per customer (paired bootstrap).",
    ]
    return "\n".join(lines) + "\n"


def log_run(settings: Settings, summary: dict) -> str:
    """One MLflow run in the policy-evaluation experiment: params, each policy's figures, the table, the JSON."""
    import mlflow

    from holdout.policy.evaluate import policy_evaluation_run, summary_json

    with policy_evaluation_run(settings, "policy-evaluate-experiment") as run:
        p = summary["params"]
        mlflow.log_params({k: v for k, v in p.items() if k != "propensity"})
        mlflow.log_param("better_email", summary["better_email"])
        for name, r in [
            *summary["policies"].items(),
            ("learned_minus_better", summary["learned_minus_better"]),
        ]:
            key = name.replace(" ", "_").replace("-", "")
            mlflow.log_metrics(
                {f"{key}.incremental": r["incremental"], f"{key}.lo": r["ci_low"], f"{key}.hi": r["ci_high"]}
            )
        mlflow.log_text(summary["markdown"], "policy_experiment.md")
        mlflow.log_text(
            summary_json({k: v for k, v in summary.items() if k != "markdown"}), "policy_experiment.json"
        )
        return run.info.run_id


def write_summary(settings: Settings, summary: dict) -> None:
    """The summary as JSON under the reports folder, next to `holdout policy evaluate`'s."""
    from holdout.policy.evaluate import summary_json

    settings.reports_dir.mkdir(parents=True, exist_ok=True)
    path = settings.reports_dir / "policy_experiment.json"
    path.write_text(summary_json({k: v for k, v in summary.items() if k != "markdown"}))
