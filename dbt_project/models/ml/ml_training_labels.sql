{{ config(materialized='table', schema='ml_features', tags=['ml']) }}
{#-
    Outcomes per customer and training cutoff over [cutoff, cutoff + h) for each horizon h in the var
    `ml_label_horizons`. A label is null when its window is not complete before the as-of date.
    Revenue is net (returns count as 0).
-#}
{%- set horizons = runtime_var('ml_label_horizons', [14, 30, 60, 90]) -%}
{%- set max_horizon = horizons | max -%}

with order_lines as (
    select * from {{ ref('int_order_lines_enriched') }}
),

population as (
    select customer_id, cutoff_date
    from {{ ref('ml_features_at_cutoffs') }}
    where not is_scoring
),

orders as (
    select
        order_id,
        customer_id,
        min(ordered_at) as ordered_at,
        -- decimals: exact sums, the same in every run (a parallel sum of doubles is not)
        sum(cast(net_revenue_eur as decimal(18, 2))) as net_revenue_eur
    from order_lines
    group by order_id, customer_id
),

orders_after_cutoff as (
    select
        population.customer_id,
        population.cutoff_date,
        {{ dbt.datediff('population.cutoff_date', 'cast(orders.ordered_at as date)', 'day') }} as days_after,
        orders.net_revenue_eur
    from population
    inner join orders
        on population.customer_id = orders.customer_id
        and orders.ordered_at >= population.cutoff_date
        and orders.ordered_at < {{ dbt.dateadd('day', max_horizon, 'population.cutoff_date') }}
),

outcomes as (
    select
        customer_id,
        cutoff_date,
        {%- for h in horizons %}
        count(*) filter (where days_after < {{ h }}) as orders_{{ h }},
        sum(net_revenue_eur) filter (where days_after < {{ h }}) as revenue_{{ h }}
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from orders_after_cutoff
    group by customer_id, cutoff_date
),

final as (
    select
        population.customer_id,
        population.cutoff_date,
        {%- for h in horizons %}
        case when {{ dbt.dateadd('day', h, 'population.cutoff_date') }} <= {{ as_of_date() }}
            then coalesce(outcomes.orders_{{ h }}, 0) end as orders_next_{{ h }}d,
        case when {{ dbt.dateadd('day', h, 'population.cutoff_date') }} <= {{ as_of_date() }}
            then cast(coalesce(outcomes.revenue_{{ h }}, 0) as double) end as revenue_next_{{ h }}d
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from population
    left join outcomes using (customer_id, cutoff_date)
)

select * from final
