-- Public: the whole program's incremental revenue per month, treated (eligible for campaigns) vs the global
-- control group, in total and per channel, with a 95% interval and the cost of holding the group out.
with

customer_months as (

    select * from {{ ref('int_program_customer_months') }}

),

arms as (

    select month_start, channel, period_id, is_member, min(window_start) as window_start,
        max(window_end) as window_end, max(control_share) as control_share, count(*) as customers,
        avg(revenue) as revenue_per_customer, coalesce(var_samp(revenue), 0) as revenue_variance
    from customer_months
    group by all

),

paired as (

    select t.month_start, t.channel, t.period_id, t.window_start, t.window_end, t.control_share,
        t.customers as treated_customers, c.customers as control_customers,
        t.revenue_per_customer as treated_revenue_per_customer,
        c.revenue_per_customer as control_revenue_per_customer,
        t.revenue_variance as treated_variance, c.revenue_variance as control_variance,
        ((t.customers - 1) * t.revenue_variance + (c.customers - 1) * c.revenue_variance)
            / nullif(t.customers + c.customers - 2, 0) as pooled_variance
    from arms as t
    inner join arms as c
        on c.month_start = t.month_start and c.channel = t.channel and c.period_id = t.period_id
        and c.is_member and not t.is_member

),

compared as (

    select *,
        treated_revenue_per_customer - control_revenue_per_customer as uplift,
        -- the standard error holdout.measure.uplift.welch_from_stats gives (normal interval: program-sized arms):
        -- Welch's, the smaller arm's variance at least the pooled one (a small group that missed the few big
        -- spenders has a low mean and a low variance together)
        sqrt(
            case when treated_customers <= control_customers
                then greatest(treated_variance, pooled_variance) else treated_variance end / treated_customers
            + case when control_customers <= treated_customers
                then greatest(control_variance, pooled_variance) else control_variance end / control_customers
        ) as uplift_se
    from paired

),

final as (

    select
        cast(month_start as date) as month,
        cast(channel as {{ string_type() }}) as channel,
        cast(period_id as {{ string_type() }}) as period_id,
        cast(window_start as date) as window_start,
        cast(window_end as date) as window_end,
        window_end >= cast(month_start + interval 1 month as date) as is_complete_month,
        cast(control_share as double) as control_share,
        cast(treated_customers as integer) as treated_customers,
        cast(control_customers as integer) as control_customers,
        cast(treated_revenue_per_customer as double) as treated_revenue_per_customer,
        cast(control_revenue_per_customer as double) as control_revenue_per_customer,
        cast(uplift as double) as uplift,
        cast(uplift - 1.959964 * uplift_se as double) as uplift_ci_low,
        cast(uplift + 1.959964 * uplift_se as double) as uplift_ci_high,
        cast(uplift * treated_customers as double) as incremental_revenue,
        cast((uplift - 1.959964 * uplift_se) * treated_customers as double) as incremental_revenue_ci_low,
        cast((uplift + 1.959964 * uplift_se) * treated_customers as double) as incremental_revenue_ci_high,
        cast(uplift * control_customers as double) as holdout_cost,
        cast((uplift - 1.959964 * uplift_se) * control_customers as double) as holdout_cost_ci_low,
        cast((uplift + 1.959964 * uplift_se) * control_customers as double) as holdout_cost_ci_high
    from compared

)

select * from final
