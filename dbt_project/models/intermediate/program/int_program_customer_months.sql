-- Revenue of every customer the global control ledger holds, per month of its rotation period since the period's
-- first launch, with the channels the customer could be reached on at the month's start (grain: customer, month,
-- channel; channel 'all' = everyone). Erased customers leave (int_customers_resolved).

with

members as (

    select m.period_id, m.customer_id, m.is_member, m.period_end, m.launch_date, m.share
    from {{ source('ops', 'global_control_members') }} as m
    inner join {{ ref('int_customers_resolved') }} as c on c.customer_id = m.customer_id

),

periods as (

    select period_id, min(period_end) as period_end, min(launch_date) as first_launch_date,
        max(share) as control_share
    from members
    group by period_id

),

months as (

    select period_id, control_share, cast(month_start as date) as month_start,
        greatest(cast(month_start as date), first_launch_date) as window_start,
        least(cast(month_start + interval 1 month as date), period_end, {{ as_of_date() }}) as window_end
    from (
        select *, {{ month_starts(
            "cast(date_trunc('month', first_launch_date) as timestamp)",
            'cast(least(period_end, ' ~ as_of_date() ~ ') as timestamp) - interval 1 day') }} as month_start
        from periods
    ) as expanded

),

customer_months as (

    select mo.period_id, mo.control_share, mo.month_start, mo.window_start, mo.window_end, m.customer_id,
        m.is_member, coalesce(sum(o.net_revenue_eur), 0) as revenue
    from members as m
    inner join months as mo on mo.period_id = m.period_id and mo.window_end > mo.window_start
    left join {{ ref('int_order_lines_enriched') }} as o
        on o.customer_id = m.customer_id and o.order_date >= mo.window_start and o.order_date < mo.window_end
    group by all

),

reachable as (

    select distinct cm.customer_id, cm.month_start, h.channel
    from customer_months as cm
    inner join {{ ref('int_consent_periods') }} as h
        on h.customer_id = cm.customer_id and h.is_opted_in
        and h.valid_from <= cast(cm.window_start as timestamp)
        and (h.valid_to is null or h.valid_to > cast(cm.window_start as timestamp))

),

final as (

    select cm.*, 'all' as channel from customer_months as cm
    union all
    select cm.*, r.channel from customer_months as cm
    inner join reachable as r on r.customer_id = cm.customer_id and r.month_start = cm.month_start

)

select * from final
