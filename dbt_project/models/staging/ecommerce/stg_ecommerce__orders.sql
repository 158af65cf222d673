{{ config(enabled=provides_contract('stg_ecommerce__orders', 'generated')) }}  -- a staging contract: README "Bring your own data"
with

orders as (

    select * from {{ ref('base_ecommerce__orders') }}
    where rejection_reason is null

),

final as (

    select
        order_id,
        customer_id,
        ordered_at,
        cast(ordered_at as date) as order_date,
        currency,
        rate_to_eur,
        sales_channel,
        status,
        loaded_at
    from orders

)

select * from final
