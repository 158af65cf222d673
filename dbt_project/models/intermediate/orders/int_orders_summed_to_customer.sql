-- Order history per customer, measured at the as-of date (orders on or after it are ignored).
{%- set as_of = as_of_date() %}
{%- set window_start = dbt.dateadd('day', -var('lifecycle_reactivated_window_days'), as_of) %}
with

orders as (

    select * from {{ ref('int_orders_summed') }}
    where order_date < {{ as_of }}

),

summed as (

    -- decimal sums of cents are exact, so rebuilding the same date gives the same figures
    select
        customer_id,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date,
        count(*) as orders_count,
        sum(cast(net_revenue_eur as decimal(18, 2))) as revenue_eur,
        count(case when {{ within_days_before_as_of('order_date', 90) }} then 1 end) as orders_last_90d,
        coalesce(sum(case when {{ within_days_before_as_of('order_date', 90) }}
            then cast(net_revenue_eur as decimal(18, 2)) end), 0) as revenue_last_90d_eur,
        count(case when {{ within_days_before_as_of('order_date', 365) }} then 1 end) as orders_last_365d,
        coalesce(sum(case when {{ within_days_before_as_of('order_date', 365) }}
            then cast(net_revenue_eur as decimal(18, 2)) end), 0) as revenue_last_365d_eur,
        -- the reactivation rule compares the first order inside the recent window with the last one before it
        max(case when order_date < {{ window_start }} then order_date end) as last_order_before_window_date,
        min(case when order_date >= {{ window_start }} then order_date end) as first_order_in_window_date
    from orders
    group by customer_id

),

final as (

    select
        customer_id,
        first_order_date,
        last_order_date,
        orders_count,
        cast(revenue_eur as double) as revenue_eur,
        cast({{ round_double(double_quotient('revenue_eur', 'orders_count'), 2) }} as double) as avg_order_value_eur,
        orders_last_90d,
        cast(revenue_last_90d_eur as double) as revenue_last_90d_eur,
        orders_last_365d,
        cast(revenue_last_365d_eur as double) as revenue_last_365d_eur,
        {{ datediff_bigint(days_before_as_of('last_order_date')) }} as recency_days,
        {{ datediff_bigint(dbt.datediff('last_order_before_window_date', 'first_order_in_window_date', 'day')) }}
            as reactivation_gap_days
    from summed

)

select * from final
