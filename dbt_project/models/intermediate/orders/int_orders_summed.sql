{%- set enriched = ref('int_order_lines_enriched') -%}
{%- set lines, orders = ref('base_ecommerce__order_lines'), ref('base_ecommerce__orders') -%}
{{ derived_incremental_config(['stg_ecommerce__order_lines', 'stg_ecommerce__orders'], dirty_key='order_id') }}
-- a daily build recomputes only the orders int_order_lines_enriched recomputed (macros/incremental_derived.sql)
-- One row per completed order with its EUR totals (the lines rolled up once, reused by customer models).
{%- set mode = prepare_dirty_keys(
    inputs=order_inputs(enriched),
    fingerprint=upstream_fingerprint(enriched),
    dirty=orders_of_changed_files(lines, orders),
    removable=['customers'],
    rewritable=['ecommerce/orders'],
) %}
with

order_lines as (

    select * from {{ enriched }}
    where {{ dirty_keys_only('order_id', mode) }}

),

final as (

    -- cents are summed as decimals: a parallel sum of doubles differs in the last bits from run to run

    select
        order_id,
        customer_id,
        min(ordered_at) as ordered_at,
        min(order_date) as order_date,
        sum(quantity) as items_count,
        cast(sum(cast(paid_amount_eur as decimal(18, 2))) as double) as paid_amount_eur,
        cast(sum(cast(discount_eur as decimal(18, 2))) as double) as discount_eur,
        cast(sum(cast(net_revenue_eur as decimal(18, 2))) as double) as net_revenue_eur
    from order_lines
    group by order_id, customer_id

)

select * from final
