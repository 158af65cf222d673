-- RFM quintile scores (1-5, 5 = best) among customers with at least one order before the as-of date.
-- Quintiles are rank based, so customers with equal values always share a score (plain ntile() would split
-- a tie, e.g. the many one-order customers, across scores by an arbitrary order).
with

orders as (

    select * from {{ ref('int_orders_summed_to_customer') }}

),

ranked as (

    select
        customer_id,
        recency_days,
        revenue_eur,
        count(*) over () as customers_count,
        rank() over (order by recency_days desc) as recency_rank,
        rank() over (order by orders_count) as frequency_rank,
        rank() over (order by revenue_eur) as monetary_rank,
        percent_rank() over (order by revenue_eur) as monetary_percentile
    from orders

),

scored as (

    select
        customer_id,
        recency_days,
        monetary_percentile,
        cast(1 + floor(5.0 * (recency_rank - 1) / customers_count) as integer) as recency_score,
        cast(1 + floor(5.0 * (frequency_rank - 1) / customers_count) as integer) as frequency_score,
        cast(1 + floor(5.0 * (monetary_rank - 1) / customers_count) as integer) as monetary_score
    from ranked

),

final as (

    select
        customer_id,
        recency_days,
        recency_score,
        frequency_score,
        monetary_score,
        cast(recency_score as {{ string_type() }}) || cast(frequency_score as {{ string_type() }})
            || cast(monetary_score as {{ string_type() }}) as rfm_score,
        case
            when monetary_percentile >= 0.95 then 'top'
            when monetary_percentile >= 0.80 then 'high'
            when monetary_percentile >= 0.50 then 'mid'
            else 'low'
        end as value_tier
    from scored

)

select * from final
