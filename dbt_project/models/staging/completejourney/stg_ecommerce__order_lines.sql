{{ config(enabled=provides_contract('stg_ecommerce__order_lines', 'completejourney')) }}  -- a staging contract: README "Bring your own data"
-- The Complete Journey's transaction rows as order lines: list price = what was booked plus the retail (loyalty),
-- coupon and coupon-match discounts; paid price = what the store booked (sales_value), both per unit, in USD.
with

transactions as (

    select * from {{ ref('base_completejourney__transactions') }}
    where rejection_reason is null

),

final as (

    select
        order_id || '-' || product_id as order_line_id,
        order_id,
        product_id,
        quantity,
        (sales_value + retail_discount + coupon_discount + coupon_match_discount) / quantity as list_price_local,
        sales_value / quantity as paid_price_local,
        false as is_returned  -- the data set has no returns
    from transactions

)

select * from final
