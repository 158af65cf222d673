{%- set lines, orders = ref('base_ecommerce__order_lines'), ref('base_ecommerce__orders') -%}
{{ derived_incremental_config(['stg_ecommerce__order_lines', 'stg_ecommerce__orders'], dirty_key='order_id') }}
-- a daily build recomputes only the orders of changed part files (macros/incremental_derived.sql)
-- Completed-order lines of known, non-erased customers with product attributes and EUR amounts. A line without a
-- product (orders with amounts only, or no products source) keeps null product attributes; a line naming a product
-- the catalogue does not have is orphaned (int_orphaned_rows_found) unless the catalogue is empty.
{%- set mode = prepare_dirty_keys(
    inputs=loaded_files_input(lines, 'ecommerce/order_lines') ~ ' union all ' ~ hashed_files_input(orders,
        'ecommerce/orders', 'order_id, customer_id, ordered_at, currency, sales_channel, status, loaded_at')
        ~ " union all select 'customers', customer_id, '' from " ~ ref('int_customers_resolved'),
    fingerprint=rows_hash(ref('stg_ecommerce__products'), 'product_id, department, category, is_new_collection')
        ~ " || '#' || " ~ rows_hash(ref('stg_ecommerce__fx_rates'), 'currency, rate_to_eur'),
    dirty=orders_of_changed_files(lines, orders),
    removable=['customers'],
    rewritable=['ecommerce/orders'],
) %}  {#- all orders when the catalogue or the fx rates changed, or an order file was rewritten #}
with

order_lines as (

    select * from {{ ref('stg_ecommerce__order_lines') }}
    where {{ dirty_keys_only('order_id', mode) }}

),

orders as (

    select * from {{ ref('stg_ecommerce__orders') }}
    where status = 'completed' and {{ dirty_keys_only('order_id', mode) }}

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
