"""Audience resolution and the eligibility funnel of one campaign on one launch date.

Everything is read from the warehouse: segment memberships and the profile from `marts`, consent on the
launch date from the SCD2 `marts.fct_consent_history` (a range query, not today's flag), open response
windows and contact history from the `ops` ledgers.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import duckdb
import pandas as pd

from holdout.campaigns.channels import Channel, get_channel
from holdout.campaigns.spec import CampaignSpec, SpecError, SpecProblem, score_columns
from holdout.warehouse import table_columns

# Profile snapshot carried in the staged audience: balance checks, persona discovery at close time (the
# profile *as of launch*, so a persona is not defined by what the campaign itself changed).
PROFILE_COLUMNS = (
    "revenue_eur",
    "orders_count",
    "recency_days",
    "tenure_days",
    "avg_order_value_eur",
    "revenue_last_90d_eur",
    "orders_last_365d",
    "departments_bought_count",
    "age",
    "gender",
    "country",
    "loyalty_tier",
    "lifecycle_stage",
    "value_tier",
    "discount_affinity",
    "new_collection_affinity",
    "top_department",
    "email_open_rate",
    "sessions_last_30d",
    "days_since_last_visit",
    "purchase_14d_score",
    "churn_60d_score",
    "value_90d_score",
)
BALANCE_COLUMNS = ("revenue_eur", "orders_count", "recency_days", "tenure_days", "purchase_14d_score")

# Funnel steps, in the order they are applied (each count is the audience left after the step).
FUNNEL_STEPS = (
    ("segments", "in the audience segments (all_of / any_of / none_of)"),
    ("not_erased", "still a customer (not erased: present in marts.dim_customers)"),
    ("not_test_account", "not a test account"),
    ("scores", "score thresholds met"),
    ("consent", "consent for the channel on the launch date"),
    ("valid_contact", "valid contact for the channel"),
    ("not_suppressed", "not suppressed (hard bounce)"),
    (
        "no_open_window",
        "not inside an open response window (of any launch, this campaign's earlier ones too; test or control)",
    ),
    ("frequency_cap", "under the channel frequency cap (test and control assignments both count)"),
)


def launch_ts(launch_date: date) -> datetime:
    """Campaigns go out at the start of the launch day: state valid at midnight counts."""
    return datetime.combine(launch_date, time.min)


def quote_identifier(name: str) -> str:
    """The one place a column name enters SQL text: double-quoted, embedded quotes doubled. Callers pass only
    names from a fixed list (the profile, the documented score columns), never raw spec text."""
    return '"' + name.replace('"', '""') + '"'


def score_filter(spec: CampaignSpec, cols: set[str], alias: str = "c") -> tuple[str, dict[str, float]]:
    """SQL boolean and its bound parameters for the spec's score thresholds. The column must be a documented
    score column *and* a column of the live marts.dim_customers; thresholds are parameters, never text."""
    known = set(score_columns())
    terms, params = [], {}
    for i, (column, bounds) in enumerate(spec.audience.scores.items()):
        if column not in known or column not in cols:
            raise SpecError(
                [
                    SpecProblem(
                        spec.path or f"{spec.id}.yml",
                        f"audience.scores.{column}",
                        "not a score column of marts.dim_customers in this warehouse",
                    )
                ]
            )
        ref = f"{alias}.{quote_identifier(column)}"
        for op, name, value in ((">=", "min", bounds.min), ("<=", "max", bounds.max)):
            if value is not None:
                params[f"score_{name}_{i}"] = float(value)
                terms.append(f"{ref} {op} $score_{name}_{i}")
    return (" and ".join(terms) or "true"), params


def dim_columns(con: duckdb.DuckDBPyConnection) -> set[str]:
    return table_columns(con, "marts", "dim_customers")


def contact_sql(channel: Channel, cols: set[str], alias: str = "c") -> str:
    """SQL boolean: does the profile row carry a usable contact for the channel."""
    if channel.contact == "email":
        return f"coalesce({alias}.is_email_valid, false) and {alias}.email is not null"
    if channel.contact == "phone":
        return f"coalesce({alias}.is_phone_valid, false)"
    if channel.contact == "app":
        # the app registers a device with the push opt-in: no push consent, no token to send to
        return f"coalesce({alias}.consent_push, false)"
    return f"{alias}.city is not null and {alias}.country is not null"


def consent_cte(channel: Channel) -> str:
    if channel.consent is None:
        return "consent as (select null::varchar as customer_id, true as ok where false)"
    return """consent as (
        select customer_id, bool_or(is_opted_in) as ok
        from marts.fct_consent_history
        where channel = $consent_channel
          and valid_from <= $launch_ts
          and (valid_to is null or valid_to > $launch_ts)
        group by customer_id)"""


def eligible_audience(
    con: duckdb.DuckDBPyConnection, spec: CampaignSpec, launch_date: date, launch_id: str
) -> tuple[pd.DataFrame, list[dict]]:
    """The eligible audience (customer_id + profile snapshot) and the funnel counts, step by step."""
    channel = get_channel(spec.channel)
    cols = dim_columns(con)
    aud = spec.audience
    having = []
    if aud.all_of:
        having.append(
            "count(distinct case when list_contains($all_of, segment_id) then segment_id end) = $n_all"
        )
    if aud.any_of:
        having.append("count(case when list_contains($any_of, segment_id) then 1 end) > 0")
    if aud.none_of:
        having.append("count(case when list_contains($none_of, segment_id) then 1 end) = 0")
    scores_ok, score_params = score_filter(spec, cols)
    suppressed = (
        "coalesce(c.has_bounced_email, false)"
        if channel.suppress_bounced and "has_bounced_email" in cols
        else "false"
    )
    consent_ok = "coalesce(consent.ok, false)" if channel.consent else "true"
    cap = spec.frequency_cap
    profile = [c for c in PROFILE_COLUMNS if c in cols]
    profile_sql = "".join(f", c.{quote_identifier(c)}" for c in profile)

    sql = f"""
    with members as (
        select distinct customer_id, segment_id from marts.fct_segment_memberships
        where list_contains($segments, segment_id)),
    segment_hits as (
        select customer_id from members group by customer_id having {" and ".join(having)}),
    {consent_cte(channel)},
    open_windows as (
        select distinct customer_id from ops.campaign_assignments
        where window_end > $launch_date and launch_id <> $launch_id),
    contacts as (
        -- test and control alike: a cap that counted only contacts would return last launch's control group
        -- (and only it) to a recurring campaign, whose hash puts it in control again and skews the split
        select a.customer_id, count(*) as n
        from ops.campaign_assignments as a
        join ops.campaign_launches as l on l.launch_id = a.launch_id
        where l.status = 'launched' and l.channel = $channel
          and l.launch_date > $launch_date::date - $cap_days::integer
          and l.launch_date <= $launch_date and a.launch_id <> $launch_id
        group by a.customer_id)
    select
        s.customer_id,
        c.customer_id is not null as not_erased,
        not coalesce(c.is_test_account, false) as not_test_account,
        coalesce({scores_ok}, false) as scores,
        coalesce({consent_ok}, false) as consent,
        coalesce({contact_sql(channel, cols)}, false) as valid_contact,
        not {suppressed} as not_suppressed,
        w.customer_id is null as no_open_window,
        {"coalesce(k.n, 0) < $cap_max" if cap else "true"} as frequency_cap
        {profile_sql}
    from segment_hits as s
    left join marts.dim_customers as c on c.customer_id = s.customer_id
    left join consent on consent.customer_id = s.customer_id
    left join open_windows as w on w.customer_id = s.customer_id
    left join contacts as k on k.customer_id = s.customer_id
    order by s.customer_id
    """
    params = {
        "segments": list(aud.segment_ids),
        "launch_date": launch_date,
        "launch_id": launch_id,
        "channel": spec.channel,
        "launch_ts": launch_ts(launch_date),
        "cap_days": cap.per_days if cap else 0,
        "cap_max": cap.max_contacts if cap else 0,
        **score_params,
    }
    if aud.all_of:
        params |= {"all_of": list(aud.all_of), "n_all": len(set(aud.all_of))}
    if aud.any_of:
        params["any_of"] = list(aud.any_of)
    if aud.none_of:
        params["none_of"] = list(aud.none_of)
    if channel.consent:
        params["consent_channel"] = channel.consent
    # DuckDB rejects unused named parameters: pass only the ones the query text mentions
    params = {k: v for k, v in params.items() if f"${k}" in sql}
    frame = con.execute(sql, params).df()

    funnel = [{"step": "segments", "label": FUNNEL_STEPS[0][1], "count": int(len(frame))}]
    keep = pd.Series(True, index=frame.index)
    for step, label in FUNNEL_STEPS[1:]:
        keep &= frame[step].astype(bool)
        funnel.append({"step": step, "label": label, "count": int(keep.sum())})
    eligible = frame.loc[keep, ["customer_id", *profile]].reset_index(drop=True)
    return eligible, funnel


def outcome_sd(
    con: duckdb.DuckDBPyConnection, customer_ids: list[str], launch_date: date, days: int
) -> float:
    """Standard deviation of net revenue per customer per `days`-long window, pooled over the past year's
    non-overlapping windows before launch: the no-campaign analogue of the outcome, for the minimum
    detectable uplift. (A single pre-window would say 0 for lapsed audiences, who bought nothing lately.)"""
    k = max(1, min(12, 365 // max(days, 1)))
    con.register("_ids", pd.DataFrame({"customer_id": customer_ids}))
    try:
        rows = con.execute(
            """with cells as (
                   select i.customer_id, w.w from _ids as i cross join range($k) as w(w)),
               rev as (
                   select customer_id, floor(datediff('day', order_date, $launch) / $days)::bigint as w,
                          sum(net_revenue_eur) as revenue
                   from intermediate.int_order_lines_enriched
                   where order_date < $launch and order_date >= $start
                     and customer_id in (select customer_id from _ids)
                   group by all)
               select stddev_samp(coalesce(r.revenue, 0)) from cells as c
               left join rev as r on r.customer_id = c.customer_id and r.w = c.w""",
            {"k": k, "launch": launch_date, "days": days, "start": launch_date - timedelta(days=k * days)},
        ).fetchall()
    finally:
        con.unregister("_ids")
    value = rows[0][0] if rows else None
    return float(value) if value is not None else float("nan")
