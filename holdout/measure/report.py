"""Self-contained HTML campaign report: tables plus matplotlib charts embedded as base64 PNGs."""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from holdout.measure.personas import (
    INCONCLUSIVE,
    NOT_AT_ALL,
    SOMEWHAT,
    VERY_WELL,
    Persona,
    family_confidence,
    percent,
)
from holdout.measure.power import SMD_THRESHOLD
from holdout.measure.uplift import ConversionResult, UpliftResult
from holdout.measure.variants import VariantResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Result = UpliftResult | ConversionResult

VERDICT_COLOURS = {VERY_WELL: "#1a7f37", SOMEWHAT: "#d4a72c", NOT_AT_ALL: "#8c959f", INCONCLUSIVE: "#0969da"}
HARMFUL_COLOUR = "#cf222e"

METHOD_TEXT = [
    "Money metrics (revenue per customer in the response window, non-buyers counted as 0): the uplift is the "
    "difference in mean revenue per customer, test minus control, with Welch's unequal-variance t interval and "
    "p-value. Revenue is skewed and mostly zero, but with campaign-sized groups the mean is close to normal "
    "(central limit theorem), and the mean is the quantity that adds up to incremental revenue. When the "
    "smaller group is small a bootstrap percentile interval is computed as a cross-check and any disagreement "
    "is reported.",
    "Binary metrics (conversion, visit): difference of proportions with Newcombe's hybrid score interval "
    "(built from the two Wilson intervals; reliable for rare events) and the pooled two-proportion z-test.",
    "Incremental revenue = uplift x test customers. Revenue is what customers paid, so the discount an offer "
    "gives is already subtracted from it. Offer cost (extra discounts, from order lines) = (mean discount per "
    "test customer - mean discount per control customer) x test customers, with its Welch interval: regular "
    "markdowns reach both groups, so only the difference is the offer's. Cost = cost per contact x test "
    "customers + offer cost (floored at 0, so chance never lowers the cost below the contact cost). Return = "
    "incremental revenue (on revenue, not margin) or, when the campaign sets a gross margin m (share of list "
    "price), (m x uplift in list-price revenue - uplift in discount) x test customers, the discount borne "
    "entirely by the margin. ROI = (return - contact cost) / cost, so the discount counts once; it is shown "
    "with the interval that the return's interval implies, and when the uplift's interval includes zero only "
    "the ROI interval is shown.",
    "Personas: customers are split at random, within each arm, into a discovery half and an estimation half. "
    "Model-based (the default): an uplift learner fitted on the discovery half predicts each customer's uplift, "
    "and a shallow tree over profile conditions groups customers with similar predictions. Fallback: a greedy "
    "search over profile conditions and pairs of conditions, on the discovery half only, peels off the groups "
    "whose uplift differs most from the rest. Minimum group sizes come from power: a persona must be able to "
    "detect an uplift of three times the average (or the contact cost). Every persona figure (uplift, interval, "
    "adjusted p-value, detectable uplift) comes from the estimation half, so it is not inflated by the "
    "search; incremental revenue scales that uplift to the persona's test customers. With a champion uplift "
    "model trained on earlier launches, the personas come from its scores and every customer it was not trained "
    "on estimates them; incremental revenue then scales that uplift to all the persona's test customers, those "
    "the model was trained on too (an extrapolation to customers who were not estimated on, as it is for the "
    "discovery half). "
    "The persona intervals of a launch are simultaneous at 95% (Šidák: k personas get 0.95^(1/k) each, e.g. "
    "98.3% for three), so all of them hold their persona's true uplift together 95% of the time; the adjusted "
    "p-value is 1 - (1 - p)^k. A launch that re-tests an inconclusive persona spends less: its personas hold "
    "together at 97.5% on the first re-test, 98.75% on the second (alpha / 2^r), so repeated re-tests of one "
    "group claim a false effect with probability at most 5% together, on top of the first test's 5% (at most 10% "
    "over a whole lineage).",
    "Verdicts (U = overall uplift on the estimation half, R = max(U, cost per contact), or the whole audience's "
    "detectable uplift when that is not positive), all on the simultaneous interval: very well = interval above "
    "zero and shown above the rest of the audience (the column minus the rest's uplift: its interval, at the "
    "personas' level, above zero; those intervals too hold together at the launch's confidence); somewhat = "
    "interval above zero, not shown above the rest (a dash in that column: a single group, which has no rest, or "
    "a side too small or constant to compare, which is not shown above it); either -> keep when the interval's "
    "lower end covers the cost per contact, else rework; inconclusive = no such "
    "evidence but the interval still reaches R -> retest (collect more data); not at all = the interval rules "
    "out every uplift that matters (harmful when the whole interval is below zero) -> stop only when it also rules "
    "out paying for the contact (upper end below the cost per contact), else rework. Detectable = the "
    "uplift the persona's estimation half detects with 80% power at 5% two-sided. A persona with fewer than 3 "
    "buyers in its test or its control group is inconclusive -> retest whatever its interval says: so few "
    "buyers understate the group's variance.",
]

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem auto;max-width:1100px;color:#1f2328}
h1{margin-bottom:.2rem}h2{border-bottom:1px solid #d0d7de;padding-bottom:.3rem;margin-top:2rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem;display:block;max-width:100%;overflow-x:auto}
th,td{border:1px solid #d0d7de;padding:.3rem .6rem;text-align:right;vertical-align:top}
th{background:#f6f8fa}td.l,th.l{text-align:left}
.headline{font-size:1.1rem;background:#f6f8fa;border-left:4px solid #0969da;padding:.6rem 1rem}
.very_well{color:#1a7f37;font-weight:600}.somewhat{color:#9a6700;font-weight:600}
.not_at_all{color:#57606a;font-weight:600}.inconclusive{color:#0969da;font-weight:600}.harmful{color:#cf222e;font-weight:600}
.note{color:#9a6700}img{max-width:100%}p.small{font-size:.85rem;color:#57606a}
"""


def _esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _num(x: Any, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, int | np.integer):
        return f"{int(x):,}"
    return (
        f"{float(x):,.{digits}g}"
        if abs(float(x)) < 1e-3 or abs(float(x)) >= 1e6
        else f"{float(x):,.{digits}f}"
    )


def _money(x: Any, currency: str) -> str:
    return (
        "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{float(x):,.2f} {_esc(currency)}"
    )


def _pct(x: Any, digits: int = 2) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * float(x):.{digits}f}%"


def _p(x: float) -> str:
    return "–" if x is None or math.isnan(x) else ("< 0.0001" if x < 1e-4 else f"{x:.4f}")


def _p_text(x: float) -> str:
    """'p = 0.0123' or 'p < 0.0001', for sentences."""
    text = _p(x)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def _interval(lo: float, hi: float, fmt: str = "{:,.2f}") -> str:
    return f"{fmt.format(lo)} to {fmt.format(hi)}"


def roi_interval(r: UpliftResult) -> tuple[float, float] | None:
    """ROI at the two ends of the return's interval: (return - contact cost) / cost."""
    return r.roi_bounds()


def _roi_basis(r: UpliftResult) -> str:
    return "on revenue, not margin" if r.margin is None else f"on a {_pct(r.margin, 0)} margin"


def _offer_cost(r: UpliftResult, currency: str) -> str:
    if r.offer_cost is None:
        return "–"
    return f"{_money(r.offer_cost, currency)} ({_interval(r.offer_cost_ci_low, r.offer_cost_ci_high)})"


def reading(ci_low: float, ci_high: float, notes: str | None = None) -> str:
    """How a measured uplift reads, in words: one rule for the report, its index and the demo's summary (a note,
    such as too few buyers, makes it inconclusive whatever the interval; the mart's `is_significant` agrees)."""
    if isinstance(notes, str) and notes:
        return f"inconclusive: {notes}"
    if ci_low > 0:
        return "significantly positive"
    if ci_high < 0:
        return "significantly negative"
    return "not distinguishable from zero"


def roi_hidden_because(bounds: tuple[float, float] | None, notes: str | None) -> str | None:
    """Why a point ROI is not shown (None: it is): a note calls the measurement inconclusive, or the ROI's
    interval holds both a loss and a gain, so a point ROI would read as a result the data does not support."""
    if isinstance(notes, str) and notes:
        return "inconclusive, see the note"
    if bounds is not None and bounds[0] <= 0 <= bounds[1]:
        return "the interval holds both a loss and a gain"
    return None


def _roi(r: UpliftResult) -> str:
    """The ROI with its interval; only the interval when `roi_hidden_because` says so."""
    bounds = roi_interval(r)
    if bounds is None:
        return "–"
    span = f"{_pct(bounds[0], 0)} to {_pct(bounds[1], 0)}"
    hidden = roi_hidden_because(bounds, " ".join(r.notes))
    if hidden:
        return f"not shown ({hidden}); interval {span}, {_roi_basis(r)}"
    return f"{_pct(r.roi, 0)} ({span}), {_roi_basis(r)}"


def _describe_field(key: str, value: Any) -> str | None:
    """A campaign field as a marketer reads it; None hides the field."""
    if key in ("path", "every_days") or value in (None, "", (), []):
        return None
    if key == "audience" and isinstance(value, Mapping):
        parts = [
            f"{label}: {', '.join(map(str, value[k]))}"
            for k, label in (("all_of", "all of"), ("any_of", "any of"), ("none_of", "none of"))
            if value.get(k)
        ]
        scores = value.get("scores") or ()
        if isinstance(scores, Mapping):  # {column: {min, max}} as written in a spec
            scores = [{"column": c, **_as_mapping(b)} for c, b in scores.items()]
        for score in scores:
            sc = _as_mapping(score)
            bounds = [f"{op} {sc[k]}" for k, op in (("min", ">="), ("max", "<=")) if sc.get(k) is not None]
            parts.append(f"{sc.get('column')} {' and '.join(bounds)}")
        return "; ".join(parts)
    if key == "offer" and isinstance(value, Mapping):
        kind = str(value.get("kind", "")).replace("_", " ")
        return f"{kind} (code {value['code']})" if value.get("code") else kind
    if key == "variants" and isinstance(value, list | tuple):
        return "; ".join(
            f"{v.get('id')}: {_describe_field('offer', v.get('offer'))}, {_pct(v.get('share'), 0)} of the audience, "
            f"cost {v.get('cost', 0)} per contact"
            for v in map(_as_mapping, value)
        )
    if key == "transactional":
        return "yes: reaches the global control group" if value else None
    if key == "frequency_cap" and isinstance(value, Mapping):
        return f"at most {value.get('max_contacts')} contact(s) per {value.get('per_days')} days"
    if key == "control_share":
        return _pct(value, 1)
    if isinstance(value, Mapping):
        text = ", ".join(f"{k}: {v}" for k, v in value.items() if v not in (None, "", (), []))
    elif isinstance(value, list | tuple):
        text = ", ".join(map(str, value))
    elif isinstance(value, bool):  # a spec's switches (split_review, ...) read as words, not Python's True
        text = "yes" if value else "no"
    else:
        text = str(value)
    return text if len(text) < 200 else None


def _campaign_table(info: Mapping[str, Any]) -> str:
    rows = []
    for key, value in info.items():
        if key == "schedule":
            every = info.get("every_days")
            value = f"every {every} days" if value == "every" and every else value
        elif key == "priority" and value is None:
            value = "auto"
        text = _describe_field(key, value)
        if text is not None:
            rows.append(
                f"<tr><th class=l>{_esc(key.replace('_', ' '))}</th><td class=l>{_esc(text)}</td></tr>"
            )
    return f"<table>{''.join(rows)}</table>"


def _figure(**kwargs: Any) -> Figure:
    # Imported here: matplotlib is slow to import and only the report needs it. Figure + the Agg canvas
    # (no pyplot) keeps rendering free of global state and of any interactive backend.
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def _png(fig: Figure) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return f'<img alt="chart" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode("ascii")}">'


def _as_mapping(obj: Any) -> dict[str, Any]:
    if obj is None:
        return {}
    if isinstance(obj, Mapping):
        return dict(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if hasattr(obj, "model_dump"):
        return obj.model_dump()
    return dict(vars(obj))


def _as_results(results: Any) -> list[Result]:
    if isinstance(results, UpliftResult | ConversionResult):
        return [results]
    if isinstance(results, Mapping):
        return list(results.values())
    return list(results or [])


def normalize_funnel(funnel: Any) -> list[tuple[str, int]]:
    """Funnel steps as ``[(step, customers)]`` from a dict, pairs, records (``step``/``name`` and
    ``count``/``customers``/``n``) or a two-column DataFrame."""
    if funnel is None:
        return []
    if isinstance(funnel, pd.DataFrame):
        return [(str(a), int(b)) for a, b in funnel.iloc[:, :2].itertuples(index=False)]
    if isinstance(funnel, Mapping):
        return [(str(k), int(v)) for k, v in funnel.items()]
    steps = []
    for item in funnel:
        if isinstance(item, Mapping):
            name = next(item[k] for k in ("step", "name", "label") if k in item)
            count = next(item[k] for k in ("count", "customers", "n", "size") if k in item)
            steps.append((str(name), int(count)))
        else:
            name, count = item
            steps.append((str(name), int(count)))
    return steps


def _is_money(r: Result) -> bool:
    return isinstance(r, UpliftResult)


def uplift_chart(results: Sequence[Result], currency: str = "EUR") -> Figure:
    """One panel per metric: the uplift and its interval against zero."""
    fig = _figure(figsize=(8, 1.3 + 1.1 * len(results)))
    axes = fig.subplots(len(results), 1, squeeze=False)[:, 0]
    for ax, r in zip(axes, results, strict=True):
        scale, unit = (1.0, f"{currency} per customer") if _is_money(r) else (100.0, "percentage points")
        # an interval a note calls inconclusive (too few buyers, Welch and the bootstrap disagreeing) stays grey
        colour = "#57606a" if not r.conclusive else "#1a7f37" if r.ci_low > 0 else HARMFUL_COLOUR
        u, lo, hi = r.uplift * scale, r.ci_low * scale, r.ci_high * scale
        ax.errorbar([u], [0], xerr=[[u - lo], [hi - u]], fmt="o", color=colour, capsize=6, lw=2)
        boot = getattr(r, "bootstrap_ci_low", None)
        if boot is not None:
            ax.plot(
                [r.bootstrap_ci_low * scale, r.bootstrap_ci_high * scale],
                [-0.25, -0.25],
                color="#0969da",
                lw=1.5,
                label="bootstrap 95%",
            )
            ax.legend(loc="lower right", fontsize=7, frameon=False)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks([0], [r.metric])
        ax.set_ylim(-0.6, 0.6)
        ax.set_xlabel(f"uplift, {unit} (95% interval)")
        span = max(abs(lo), abs(hi), 1e-12)
        ax.set_xlim(min(lo, 0) - 0.15 * span, max(hi, 0) + 0.15 * span)
    fig.tight_layout()
    return fig


def forest_plot(personas: Sequence[Persona], overall: float | None = None, currency: str = "EUR") -> Figure:
    """Persona uplifts with their simultaneous intervals (95%, more for a re-test), coloured by verdict; dashed line at the overall
    uplift."""
    fig = _figure(figsize=(9, 1.2 + 0.55 * len(personas)))
    ax = fig.subplots()
    ys = np.arange(len(personas))[::-1]
    for y, p in zip(ys, personas, strict=True):
        colour = HARMFUL_COLOUR if p.harmful else VERDICT_COLOURS.get(p.verdict, "#57606a")
        ax.errorbar(
            [p.uplift],
            [y],
            xerr=[[p.uplift - p.ci_low], [p.ci_high - p.uplift]],
            fmt="s",
            color=colour,
            capsize=4,
            lw=2,
            markersize=4 + 6 * math.sqrt(p.share_of_audience),
        )
    labels = [f"{p.persona_id}: {p.definition[:60]}{'…' if len(p.definition) > 60 else ''}" for p in personas]
    ax.set_yticks(ys, labels, fontsize=8)
    ax.axvline(0, color="black", lw=0.8)
    if overall is not None:
        ax.axvline(overall, color="#0969da", lw=1, ls="--", label=f"overall {overall:,.3g}")
        ax.legend(loc="lower right", fontsize=8, frameon=False)
    level = percent(family_confidence(personas))
    ax.set_xlabel(f"uplift per customer, {currency} (held-out estimate, simultaneous {level} intervals)")
    ax.set_ylim(-0.7, len(personas) - 0.3)
    fig.tight_layout()
    return fig


def qini_chart(qini: pd.DataFrame) -> Figure:
    """Qini curve (``share``, ``incremental``) against the random-order diagonal."""
    fig = _figure(figsize=(6, 3.6))
    ax = fig.subplots()
    share = np.append(0.0, qini["share"].to_numpy(dtype=float))
    inc = np.append(0.0, qini["incremental"].to_numpy(dtype=float))
    ax.plot(share, inc, color="#0969da", label="model order")
    ax.plot([0, share[-1]], [0, inc[-1]], "--", color="#8c959f", label="random order")
    ax.set_xlabel("share of customers contacted (by predicted uplift)")
    ax.set_ylabel("incremental outcome")
    ax.legend(loc="best", fontsize=8)
    return fig


def funnel_chart(steps: Sequence[tuple[str, int]]) -> Figure:
    """Eligibility funnel: customers left after each step, with the share of the first step."""
    fig = _figure(figsize=(8, 1.0 + 0.45 * len(steps)))
    ax = fig.subplots()
    names, counts = [s for s, _ in steps], np.array([c for _, c in steps], dtype=float)
    ys = np.arange(len(steps))[::-1]
    ax.barh(ys, counts, color="#0969da")
    first = counts[0] if counts.size and counts[0] > 0 else 1.0
    for y, c in zip(ys, counts, strict=True):
        ax.text(c, y, f"  {int(c):,} ({100 * c / first:.1f}%)", va="center", fontsize=8)
    ax.set_yticks(ys, names, fontsize=8)
    ax.set_xlim(0, (counts.max() if counts.size else 1) * 1.35)
    ax.set_xlabel("customers")
    fig.tight_layout()
    return fig


def balance_chart(balance: pd.DataFrame, threshold: float = SMD_THRESHOLD) -> Figure:
    """Love plot: standardized mean difference per covariate, with the |SMD| threshold."""
    b = balance.reset_index(drop=True)
    fig = _figure(figsize=(7, 1.0 + 0.3 * len(b)))
    ax = fig.subplots()
    ys = np.arange(len(b))[::-1]
    colours = [HARMFUL_COLOUR if abs(s) > threshold else "#1a7f37" for s in b["smd"]]
    ax.scatter(b["smd"], ys, color=colours, zorder=3)
    for x in (-threshold, threshold):
        ax.axvline(x, color="#8c959f", ls="--", lw=0.8)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(ys, b["covariate"].astype(str), fontsize=7)
    ax.set_xlabel("standardized mean difference (test - control)")
    fig.tight_layout()
    return fig


def _results_table(results: Sequence[Result], currency: str) -> str:
    head = (
        "<tr><th class=l>metric</th><th>test</th><th>control</th><th>test value</th><th>control value</th>"
        "<th>uplift</th><th>95% interval</th><th>p-value</th><th>response rate, test vs control</th>"
        "<th>bootstrap 95% interval</th><th>incremental</th><th>offer cost (extra discounts, from order lines)</th>"
        "<th>cost (contact + offer)</th><th>ROI</th><th class=l>method</th></tr>"
    )
    rows = []
    for r in results:
        if _is_money(r):
            tv, cv = _money(r.mean_test, currency), _money(r.mean_control, currency)
            up, ci = _money(r.uplift, currency), _interval(r.ci_low, r.ci_high)
            inc, roi = _money(r.incremental_revenue, currency), _esc(_roi(r))
            offer = _offer_cost(r, currency)
            rates = f"{_pct(r.response_rate_test)} vs {_pct(r.response_rate_control)}"
            boot = (
                _interval(r.bootstrap_ci_low, r.bootstrap_ci_high) if r.bootstrap_ci_low is not None else "–"
            )
        else:
            tv, cv = _pct(r.rate_test, 3), _pct(r.rate_control, 3)
            up, ci = f"{100 * r.uplift:+.3f} pp", f"{100 * r.ci_low:+.3f} to {100 * r.ci_high:+.3f} pp"
            inc, roi, rates, boot = f"{r.incremental_conversions:,.1f} conversions", "–", "–", "–"
            offer = "–"
        notes = "".join(f"<br><span class=note>{_esc(n)}</span>" for n in getattr(r, "notes", ()))
        rows.append(
            f"<tr><td class=l>{_esc(r.metric)}</td><td>{r.n_test:,}</td><td>{r.n_control:,}</td><td>{tv}</td>"
            f"<td>{cv}</td><td>{up}</td><td>{ci}</td><td>{_p(r.p_value)}</td><td>{rates}</td><td>{boot}</td>"
            f"<td>{inc}</td><td>{offer}</td><td>{_money(r.cost, currency) if r.cost is not None else '–'}</td>"
            f"<td>{roi}</td>"
            f"<td class=l>{_esc(r.method)}{notes}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _versus_rest_cell(p: Persona, currency: str) -> str:
    """The persona's uplift minus the rest of the audience's, with its interval at the persona's level (what
    decides very well against somewhat); a dash when there is none: a single group has no rest, and a side with a
    constant outcome or under two customers in an arm gives no interval (not shown above the rest)."""
    values = (p.versus_rest, p.versus_rest_ci_low, p.versus_rest_ci_high)
    if not all(math.isfinite(v) for v in values):
        return "-"
    return f"{_money(p.versus_rest, currency)} ({_interval(p.versus_rest_ci_low, p.versus_rest_ci_high)})"


def _persona_table(personas: Sequence[Persona], currency: str) -> str:
    head = (
        "<tr><th class=l>persona</th><th class=l>definition</th><th>test</th><th>control</th><th>share</th>"
        "<th>uplift per customer</th><th>interval (level each)</th><th>detectable (80% power)</th>"
        "<th>p (adjusted)</th>"
        "<th>minus the rest's uplift (interval)</th>"
        "<th>incremental revenue</th>"
        "<th class=l>verdict</th><th class=l>recommendation</th></tr>"
    )
    rows = []
    for p in personas:
        cls = "harmful" if p.harmful else p.verdict
        verdict = p.verdict.replace("_", " ") + (" (harmful)" if p.harmful else "")
        if p.verdict_reason:
            verdict += f" ({p.verdict_reason})"
        rows.append(
            f"<tr><td class=l>{_esc(p.persona_id)}</td><td class=l>{_esc(p.definition)}</td><td>{p.n_test:,}</td>"
            f"<td>{p.n_control:,}</td><td>{_pct(p.share_of_audience, 1)}</td><td>{_money(p.uplift, currency)}</td>"
            f"<td>{_interval(p.ci_low, p.ci_high)} ({_pct(p.ci_level, 1)})</td><td>{_money(p.mde, currency)}</td>"
            f"<td>{_p(p.p_value)} ({_p(p.p_value_adjusted)})</td><td>{_versus_rest_cell(p, currency)}</td>"
            f"<td>{_money(p.incremental_revenue, currency)}</td><td class='l {cls}'>{_esc(verdict)}</td>"
            f"<td class='l {cls}'>{_esc(p.recommendation)}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _headline(results: Sequence[Result], currency: str) -> str:
    money = next((r for r in results if _is_money(r)), None)
    if money is None:
        return ""
    verdict = reading(money.ci_low, money.ci_high, " ".join(money.notes))
    text = (
        f"Incremental {_esc(money.metric)}: {_money(money.incremental_revenue, currency)} "
        f"({_money(money.uplift, currency)} per test customer, 95% interval "
        f"{_interval(money.ci_low, money.ci_high)}; {verdict.rstrip('.')}; {_p_text(money.p_value)})."
    )
    if money.cost:
        if money.offer_cost is not None:
            text += f" Offer cost (extra discounts, from order lines) {_offer_cost(money, currency)}."
        text += f" Cost {_money(money.cost, currency)}, ROI {_esc(_roi(money))}."
    return f"<p class=headline>{text}</p>"


def variant_chart(variants: VariantResult, currency: str = "EUR") -> Figure:
    """Each variant's net uplift over control with its 95% interval."""
    rows = [c for c in variants.comparisons if c.versus == "control"]
    fig = _figure(figsize=(7, 0.6 * len(rows) + 1.4))
    ax = fig.subplots()
    y = np.arange(len(rows))
    up = np.array([c.uplift for c in rows])
    lo, hi = np.array([c.ci_low for c in rows]), np.array([c.ci_high for c in rows])
    for i, c in enumerate(rows):  # the winner in green
        colour = "#1a7f37" if c.arm == variants.winner else "#0969da"
        ax.errorbar([up[i]], [i], xerr=[[up[i] - lo[i]], [hi[i] - up[i]]], fmt="o", color=colour, capsize=4)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y, [c.arm for c in rows])
    ax.set_xlabel(f"net revenue per customer vs control, {currency} (95% interval)")
    fig.tight_layout()
    return fig


def _variant_section(variants: VariantResult, currency: str) -> str:
    head = (
        "<tr><th class=l>variant</th><th class=l>versus</th><th>customers</th><th>net per customer</th>"
        "<th>versus: customers</th><th>versus: net per customer</th><th>difference per customer</th>"
        "<th>95% interval</th><th>p-value</th><th>Holm p-value</th><th>net incremental revenue</th></tr>"
    )
    rows = "".join(
        f"<tr><td class=l>{_esc(c.arm)}</td><td class=l>{_esc(c.versus)}</td><td>{c.n_arm:,}</td>"
        f"<td>{_money(c.net_per_customer_arm, currency)}</td><td>{c.n_versus:,}</td>"
        f"<td>{_money(c.net_per_customer_versus, currency)}</td><td>{_money(c.uplift, currency)}</td>"
        f"<td>{_interval(c.ci_low, c.ci_high)}</td><td>{_p(c.p_value)}</td><td>{_p(c.p_holm)}</td>"
        f"<td>{_money(c.incremental, currency)}</td></tr>"
        for c in variants.comparisons
    )
    return (
        "<h2>Offer variants</h2>"
        f'<p class="headline">{_esc(variants.verdict)}</p>'
        f"<table>{head}{rows}</table>{_png(variant_chart(variants, currency))}"
        "<p class=small>Net = revenue per customer in the window minus the variant's cost per contact (0 for "
        "control). Every variant is compared with the shared control group and with every other variant (Welch "
        "intervals); Holm's correction over all these comparisons controls the chance of any false claim at 5%. "
        "A winner must beat control and every other variant, each with a Holm p-value below 0.05 and an "
        "interval above zero.</p>"
    )


def render_campaign_report(
    path: str | Path,
    *,
    campaign: Any,
    results: Any,
    personas: Sequence[Persona] | None,
    funnel: Any,
    balance: pd.DataFrame | None = None,
    currency: str | None = None,
    persona_method: str = "",
    qini: pd.DataFrame | None = None,
    variants: VariantResult | None = None,
) -> Path:
    """Write one self-contained HTML report (no external files or links) and return its path.

    ``campaign``: mapping, dataclass or object (shown as a table; ``name``/``id``/``currency`` used if present).
    ``results``: an :class:`UpliftResult` / :class:`ConversionResult`, a list, or a mapping of them.
    ``funnel``: see :func:`normalize_funnel`. ``balance``: the frame of
    :func:`holdout.measure.power.standardized_mean_differences`. ``persona_method``: how the personas were
    found (``PersonaResult.method``); ``qini``: the launch's Qini curve (``share``, ``incremental``) when a model
    was fitted.
    """
    info = _as_mapping(campaign)
    currency = currency or str(info.get("currency") or "EUR")
    title = str(info.get("name") or info.get("id") or info.get("campaign_id") or "Campaign")
    results_l = _as_results(results)
    personas = list(personas or [])
    steps = normalize_funnel(funnel)

    parts = [f"<h1>{_esc(title)}</h1>"]
    if info:
        parts.append(_campaign_table(info))
    parts.append(_headline(results_l, currency))

    parts.append("<h2>Results: test vs control</h2>")
    if results_l:
        parts.append(_results_table(results_l, currency))
        parts.append(_png(uplift_chart(results_l, currency)))
    else:
        parts.append("<p>No measurement.</p>")

    if variants is not None:
        parts.append(_variant_section(variants, currency))
    parts.append("<h2>Personas</h2>")
    if personas:
        est = (sum(p.n_test_estimation for p in personas), sum(p.n_control_estimation for p in personas))
        overall = None
        tot_t = sum(p.n_test_estimation * p.mean_test for p in personas)
        tot_c = sum(p.n_control_estimation * p.mean_control for p in personas)
        if est[0] and est[1]:
            overall = tot_t / est[0] - tot_c / est[1]
        if len(personas) == 1:
            parts.append(
                f"<p>The whole audience ({est[0]:,} test and {est[1]:,} control customers) is measured as one "
                f"group (a {percent(personas[0].ci_level)} interval): either no group of customers responded "
                "differently enough from the rest to be reported, or the launch was too small to look for one "
                "(how the personas were found, below, says which). With no rest to compare with, very well needs "
                f"only its interval above zero. Recommendation: {_esc(personas[0].recommendation)}.</p>"
            )
        else:
            found = (
                "They were found from the campaign's champion uplift model, trained on earlier launches, so "
                "every figure below comes from this launch's customers it was not trained on"
                if personas[0].found_by == "champion"
                else "They were found on a random half of it; every figure below comes from the other half"
            )
            parts.append(
                f"<p>{len(personas)} personas partition the audience. {found} ({est[0]:,} test and {est[1]:,} "
                f"control customers; the table's test and control columns count all of each persona's "
                "customers, and incremental revenue scales its uplift to all its test customers); the intervals "
                f"are simultaneous at {percent(family_confidence(personas))} "
                f"(each at {_pct(personas[0].ci_level, 1)}). "
                "Recommendations: "
                + ", ".join(f"{_esc(p.persona_id)} {_esc(p.recommendation)}" for p in personas)
                + ".</p>"
            )
        if math.isfinite(personas[0].yardstick):
            parts.append(
                f"<p>R, the smallest uplift that matters, is {_money(personas[0].yardstick, currency)} per test "
                "customer (the average uplift on the customers estimated on, or the cost per contact when higher; "
                "the whole audience's detectable uplift when neither is above zero): a persona whose interval stays "
                "below R did not work at all, one whose interval reaches R without clearing zero is inconclusive.</p>"
            )
        if persona_method:
            parts.append(f"<p>How the personas were found: {_esc(persona_method)}.</p>")
        parts.append(_persona_table(personas, currency))
        parts.append(_png(forest_plot(personas, overall, currency)))
        if qini is not None and len(qini):
            on = (
                "this launch's customers it was not trained on"
                if personas[0].found_by == "champion"
                else "the estimation half"
            )
            parts.append(
                f"<p>Qini curve of the uplift model on {on}: incremental outcome when contacting "
                "the top share of customers by predicted uplift (dashed: random order).</p>"
            )
            parts.append(_png(qini_chart(qini)))
    else:
        parts.append("<p>No persona search was run.</p>")

    parts.append("<h2>Eligibility funnel and sizes</h2>")
    if steps:
        table = "".join(f"<tr><td class=l>{_esc(s)}</td><td>{c:,}</td></tr>" for s, c in steps)
        parts.append(f"<table><tr><th class=l>step</th><th>customers</th></tr>{table}</table>")
        parts.append(_png(funnel_chart(steps)))
    if results_l:
        r = results_l[0]
        parts.append(f"<p>Measured: {r.n_test:,} test and {r.n_control:,} control customers.</p>")

    if balance is not None and len(balance):
        n_bad = int(balance["smd"].abs().gt(SMD_THRESHOLD).sum())
        parts.append("<h2>Balance check</h2>")
        parts.append(f"<p>{n_bad} of {len(balance)} covariates have |SMD| &gt; {SMD_THRESHOLD}.</p>")
        rows = "".join(
            f"<tr><td class=l>{_esc(c)}</td><td>{_num(mt)}</td><td>{_num(mc)}</td><td>{s:+.3f}</td></tr>"
            for c, mt, mc, s in balance[["covariate", "mean_test", "mean_control", "smd"]].itertuples(
                index=False
            )
        )
        parts.append(
            f"<table><tr><th class=l>covariate</th><th>test</th><th>control</th><th>SMD</th></tr>{rows}</table>"
        )
        parts.append(_png(balance_chart(balance)))

    parts.append("<h2>Method</h2>")
    parts.extend(f"<p>{_esc(t)}</p>" for t in METHOD_TEXT)

    doc = (
        f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{_esc(title)} – campaign report</title>"
        f"<style>{_CSS}</style></head><body>{''.join(parts)}</body></html>"
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(doc, encoding="utf-8")
    return out


def _dates_axis(ax: Any, dates: pd.Series, pad_days: int) -> None:
    """Dates on the x axis, padded around the data: with one date matplotlib spans years around the lone point."""
    values = pd.to_datetime(dates)
    if len(values):
        pad = pd.Timedelta(days=pad_days)
        ax.set_xlim(values.min() - pad, values.max() + pad)


def incremental_revenue_chart(launches: pd.DataFrame, currency: str = "EUR") -> Figure:
    """Incremental revenue of every closed launch over time, one colour per campaign, with 95% intervals."""
    fig = _figure(figsize=(9, 4))
    ax = fig.subplots()
    for campaign_id, rows in launches.sort_values("launch_date").groupby("campaign_id", sort=True):
        x = pd.to_datetime(rows["launch_date"])
        y = rows["incremental_revenue"].to_numpy(dtype=float)
        lo = rows["uplift_ci_low"].to_numpy(dtype=float) * rows["test_customers"].to_numpy(dtype=float)
        hi = rows["uplift_ci_high"].to_numpy(dtype=float) * rows["test_customers"].to_numpy(dtype=float)
        ax.errorbar(x, y, yerr=[y - lo, hi - y], fmt="o-", capsize=4, lw=1.5, label=str(campaign_id))
    ax.axhline(0, color="black", lw=0.8)
    ax.set_ylabel(f"incremental revenue, {currency} (95% interval)")
    ax.set_xlabel("launch date")
    _dates_axis(ax, launches["launch_date"], pad_days=7)
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def render_report_index(
    path: str | Path, launches: pd.DataFrame, currency: str = "EUR", program_href: str | None = None
) -> Path:
    """Write the reports' index page: every closed launch with a link to its report, and a chart of incremental
    revenue per campaign over time. ``launches``: one row per closed launch with campaign_id, launch_id,
    launch_date, window_end, test_customers, control_customers, uplift, uplift_ci_low, uplift_ci_high, p_value,
    incremental_revenue, notes (optional) and ``href`` (the report's path relative to the index). ``program_href``: the program
    report, linked at the top when it exists."""
    parts = ["<h1>Campaign reports</h1>"]
    if program_href:
        parts.append(
            f'<p class="headline"><a href="{_esc(program_href)}">Program report</a>: what the whole program earns, '
            "measured against the global control group.</p>"
        )
    if len(launches):
        parts.append(
            f"<p>{launches['campaign_id'].nunique()} campaign(s), {len(launches)} closed launch(es). Incremental "
            "revenue is measured against each launch's random control group.</p>"
        )
        parts.append(_png(incremental_revenue_chart(launches, currency)))
        head = (
            "<tr><th class=l>campaign</th><th class=l>launch</th><th class=l>window</th><th>test</th>"
            "<th>control</th><th>uplift per customer</th><th>95% interval</th><th>p-value</th>"
            "<th>incremental revenue</th><th class=l>reading</th></tr>"
        )
        rows = "".join(
            f"<tr><td class=l>{_esc(r.campaign_id)}</td>"
            f'<td class=l><a href="{_esc(r.href)}">{_esc(r.launch_id)}</a></td>'
            f"<td class=l>{_esc(r.launch_date)} to {_esc(r.window_end)}</td><td>{int(r.test_customers):,}</td>"
            f"<td>{int(r.control_customers):,}</td><td>{_money(r.uplift, currency)}</td>"
            f"<td>{_interval(r.uplift_ci_low, r.uplift_ci_high)}</td><td>{_p(r.p_value)}</td>"
            f"<td>{_money(r.incremental_revenue, currency)}</td>"
            f"<td class=l>{_esc(reading(r.uplift_ci_low, r.uplift_ci_high, getattr(r, 'notes', None)))}</td></tr>"
            for r in launches.sort_values(["launch_date", "launch_id"], ascending=[False, True]).itertuples()
        )
        parts.append(f"<table>{head}{rows}</table>")
    else:
        parts.append("<p>No campaign has been closed yet.</p>")
    return _write_page(path, "Holdout – campaign reports", parts)


def _write_page(path: str | Path, title: str, parts: list[str]) -> Path:
    """Write a standalone page (the house CSS inline) atomically: a reader never sees half a page."""
    doc = (
        f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{_esc(title)}</title>"
        f"<style>{_CSS}</style></head><body>{''.join(parts)}</body></html>"
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(doc, encoding="utf-8")
    tmp.replace(out)
    return out


def program_chart(results: pd.DataFrame, currency: str = "EUR") -> Figure:
    """Incremental revenue per month of the whole program (treated vs global control), one line per channel,
    with 95% intervals."""
    fig = _figure(figsize=(9, 4))
    ax = fig.subplots()
    for channel, rows in results.sort_values("month").groupby("channel", sort=True):
        x = pd.to_datetime(rows["month"])
        y = rows["incremental_revenue"].to_numpy(dtype=float)
        lo = rows["incremental_revenue_ci_low"].to_numpy(dtype=float)
        hi = rows["incremental_revenue_ci_high"].to_numpy(dtype=float)
        ax.errorbar(
            x,
            y,
            yerr=[y - lo, hi - y],
            fmt="o-",
            capsize=4,
            lw=2 if channel == "all" else 1,
            label=str(channel),
        )
    ax.axhline(0, color="black", lw=0.8)
    ax.set_ylabel(f"incremental revenue, {currency} (95% interval)")
    ax.set_xlabel("month")
    _dates_axis(ax, results["month"], pad_days=20)
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def holdout_cost_shown(ci_low: float) -> bool:
    """Whether holding the global control out is a cost to report: only when the program's effect (its interval's
    low end) is above zero; a negative point estimate is no saving either. One rule for the report's headline and
    table and the console (holdout.program.report.holdout_cost_text)."""
    return ci_low > 0


def _program_headline(total: pd.DataFrame, currency: str, overall: Any) -> str:
    if total.empty or overall is None:
        return "No month to measure yet."
    inc, lo, hi = overall.incremental_revenue, overall.ci_low, overall.ci_high
    cost = overall.holdout_cost
    verdict = "above zero" if lo > 0 else "below zero" if hi < 0 else "not distinguishable from zero"
    # what holding the group out cost is the program's effect on the group: only a shown gain is a cost
    held = (
        f"Holding the group out cost about {_money(cost, currency)} of revenue."
        if holdout_cost_shown(lo)
        else "Holding the group out has no cost shown: the program's effect is not shown to be above zero "
        f"(at the point estimate {_money(cost, currency)})."
    )
    return (
        f"Over {len(total)} month(s), the program earned {_money(inc, currency)} of incremental revenue "
        f"(95% interval {_interval(lo, hi)}, {verdict}) from customers eligible for campaigns, measured against "
        f"the global control group. {held}"
    )


def render_program_report(
    path: str | Path, results: pd.DataFrame, currency: str = "EUR", *, overall: Any
) -> Path:
    """Write the program report: incremental revenue per month (treated vs global control), in total and per
    channel, with intervals and the cost of holding the group out. ``results``: rows of marts.fct_program_results;
    ``overall``: the headline over all months (`holdout.program.report.program_total`, from per-customer sums)."""
    total = results[results["channel"] == "all"].sort_values("month")
    parts = [
        "<h1>Program report: what the whole CRM program earns</h1>",
        f'<p class="headline">{_esc(_program_headline(total, currency, overall))}</p>',
    ]
    if len(results):
        share = float(results["control_share"].max())
        parts.append(
            f"<p>The global control group ({_pct(share, 0)} of all customers, drawn by a salted stable hash and "
            "re-drawn every rotation period) receives no campaign except transactional ones. Every other customer "
            "is <em>treated</em>: eligible for campaigns, whether or not a campaign chose them. The difference in "
            "revenue per customer is the program's effect (intention to treat).</p>"
        )
        parts.append(_png(program_chart(results, currency)))
        head = (
            "<tr><th class=l>month</th><th class=l>channel</th><th class=l>window</th><th>treated</th>"
            "<th>control</th><th>revenue per treated customer</th><th>revenue per control customer</th>"
            "<th>uplift per customer</th><th>95% interval</th><th>incremental revenue</th><th>95% interval</th>"
            "<th>cost of the holdout</th></tr>"
        )
        ordered = results.assign(_rank=results["channel"].ne("all")).sort_values(
            ["month", "_rank", "channel"]
        )
        rows = "".join(
            f"<tr><td class=l>{_esc(pd.Timestamp(r.month).strftime('%Y-%m'))}</td><td class=l>{_esc(r.channel)}</td>"
            f"<td class=l>{_esc(r.window_start)} to {_esc(r.window_end)}"
            f"{'' if r.is_complete_month else ' (partial)'}</td>"
            f"<td>{int(r.treated_customers):,}</td><td>{int(r.control_customers):,}</td>"
            f"<td>{_money(r.treated_revenue_per_customer, currency)}</td>"
            f"<td>{_money(r.control_revenue_per_customer, currency)}</td><td>{_money(r.uplift, currency)}</td>"
            f"<td>{_interval(r.uplift_ci_low, r.uplift_ci_high)}</td>"
            f"<td>{_money(r.incremental_revenue, currency)}</td>"
            f"<td>{_interval(r.incremental_revenue_ci_low, r.incremental_revenue_ci_high, '{:,.0f}')}</td>"
            f"<td>{_money(r.holdout_cost, currency) if holdout_cost_shown(r.uplift_ci_low) else 'none shown'}</td></tr>"
            for r in ordered.itertuples()
        )
        parts.append(f"<table>{head}{rows}</table>")
    parts.append(
        "<h2>Method</h2><p class=small>Per month, revenue per customer (non-buyers count 0) of treated customers "
        "minus that of global control customers, with Welch's standard error and a normal 95% interval. "
        "Incremental revenue = uplift x treated customers; cost of the holdout = uplift x control customers, the "
        "revenue the group would have brought had it been treated, shown only when the uplift's interval is above "
        "zero (else 'none shown'). A channel row compares the customers opted in "
        "to that channel at the month's start; they may be reached on other channels too, so channel rows do not "
        "add up to the total. After a rotation, effects of earlier campaigns on customers who entered the group "
        "fade during the first weeks: the new period's first month understates the program slightly.</p>"
        '<p><a href="index.html">All campaign reports</a></p>'
    )
    return _write_page(path, "Holdout – program report", parts)
