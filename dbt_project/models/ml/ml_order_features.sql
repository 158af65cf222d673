{{ config(materialized='table', schema='ml_features', tags=['ml']) }}
{#-
    Order features per customer and cutoff, from completed orders placed strictly before the cutoff.
    Amounts are paid (gross) amounts: `is_returned` is today's state and would leak returns made after
    the cutoff.
-#}
{%- set departments = ['women', 'men', 'shoes', 'kids', 'home', 'beauty'] -%}

with order_lines as (
    -- money is summed as decimals (cents are exact): a parallel sum of doubles differs in the last bits from
    -- run to run, and the models trained on these features with it (same seed, same data: same scores)
    select *, cast(paid_amount_eur as decimal(18, 2)) as paid_eur
    from {{ ref('int_order_lines_enriched') }}
),

cutoffs as (
    select cutoff_date from {{ ref('ml_cutoffs') }}
),

orders as (
    select
        order_id,
        customer_id,
        min(ordered_at) as ordered_at,
        sum(paid_eur) as paid_eur,
        sum(case when is_discounted then paid_eur else 0 end) as discounted_eur,
        sum(case when is_new_collection then paid_eur else 0 end) as new_collection_eur,
        {%- for department in departments %}
        sum(case when department = '{{ department }}' then paid_eur else 0 end) as {{ department }}_eur
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from order_lines
    group by order_id, customer_id
),

orders_before_cutoff as (
    select
        cutoffs.cutoff_date,
        orders.*,
        {{ dbt.datediff('cast(orders.ordered_at as date)', 'cutoffs.cutoff_date', 'day') }} as age_days
    from orders
    inner join cutoffs on orders.ordered_at < cutoffs.cutoff_date
),

final as (
    select
        customer_id,
        cutoff_date,
        count(*) as orders_lifetime,
        cast(sum(paid_eur) as double) as revenue_lifetime_eur,
        cast(max(paid_eur) as double) as max_order_value_eur,
        min(age_days) as days_since_last_order,
        max(age_days) as days_since_first_order,
        (max(age_days) - min(age_days)) / nullif(count(*) - 1, 0) as mean_days_between_orders,
        {%- for days in [30, 90, 365] %}
        count(*) filter (where age_days <= {{ days }}) as orders_{{ days }}d,
        cast(coalesce(sum(paid_eur) filter (where age_days <= {{ days }}), 0) as double)
            as revenue_{{ days }}d_eur,
        {%- endfor %}
        count(*) filter (where age_days > 90 and age_days <= 180) as orders_prev_90d,
        {%- for department in departments %}
        cast(sum({{ department }}_eur) filter (where age_days <= 365) as double)
            / nullif(cast(sum(paid_eur) filter (where age_days <= 365) as double), 0)
            as share_{{ department }}_365d,
        {%- endfor %}
        cast(sum(discounted_eur) as double) / nullif(cast(sum(paid_eur) as double), 0) as discount_share,
        cast(sum(new_collection_eur) as double) / nullif(cast(sum(paid_eur) as double), 0)
            as new_collection_share
    from orders_before_cutoff
    group by customer_id, cutoff_date
)

select * from final
