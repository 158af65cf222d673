-- One row per completed order with its EUR totals (the lines rolled up once, reused by customer models).
with

order_lines as (

    select * from {{ ref('int_order_lines_enriched') }}

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
