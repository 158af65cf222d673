-- Completed-order lines of known, non-erased customers with product attributes and EUR amounts. A line without a
-- product (orders with amounts only, or no products source) keeps null product attributes; a line naming a product
-- the catalogue does not have is orphaned (int_orphaned_rows_found) unless the catalogue is empty.
with

order_lines as (

    select * from {{ ref('stg_ecommerce__order_lines') }}

),

orders as (

    select * from {{ ref('stg_ecommerce__orders') }}
    where status = 'completed'

),

products as (

    select * from {{ ref('stg_ecommerce__products') }}

),

customers as (

    select customer_id from {{ ref('int_customers_resolved') }}

),

joined as (

    select
        order_lines.order_line_id,
        order_lines.order_id,
        orders.customer_id,
        orders.ordered_at,
        orders.order_date,
        orders.sales_channel,
        order_lines.product_id,
        products.department,
        products.category,
        coalesce(products.is_new_collection, false) as is_new_collection,
        order_lines.quantity,
        {{ round_double('order_lines.quantity * order_lines.list_price_local * orders.rate_to_eur', 2) }}
            as list_amount_eur,
        {{ round_double('order_lines.quantity * order_lines.paid_price_local * orders.rate_to_eur', 2) }}
            as paid_amount_eur,
        order_lines.is_returned
    from order_lines
    inner join orders on order_lines.order_id = orders.order_id
    inner join customers on orders.customer_id = customers.customer_id
    left join products on order_lines.product_id = products.product_id
    where products.product_id is not null
        or order_lines.product_id is null
        or not exists (select 1 from products)

),

final as (

    select
        *,
        greatest(list_amount_eur - paid_amount_eur, 0) as discount_eur,
        paid_amount_eur < list_amount_eur as is_discounted,
        case when is_returned then 0 else paid_amount_eur end as net_revenue_eur
    from joined

)

select * from final
