-- One row per completed order with its EUR totals (the lines rolled up once, reused by customer models).
with

order_lines as (

    select * from {{ ref('int_order_lines_enriched') }}

),

final as (

    select
        order_id,
        customer_id,
        min(ordered_at) as ordered_at,
        min(order_date) as order_date,
        sum(quantity) as items_count,
        sum(paid_amount_eur) as paid_amount_eur,
        sum(discount_eur) as discount_eur,
        sum(net_revenue_eur) as net_revenue_eur
    from order_lines
    group by order_id, customer_id

)

select * from final
