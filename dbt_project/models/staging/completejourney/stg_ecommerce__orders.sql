{{ config(enabled=provides_contract('stg_ecommerce__orders', 'completejourney')) }}  -- a staging contract: README "Bring your own data"
-- One order per basket: a household's store visit. Every basket was paid (completed), in store, in USD.
with

transactions as (

    select * from {{ ref('base_completejourney__transactions') }}
    where rejection_reason is null

),

baskets as (

    select
        order_id,
        customer_id,
        min(ordered_at) as ordered_at
    from transactions
    group by order_id, customer_id

),

final as (

    select
        order_id,
        customer_id,
        ordered_at,
        cast(ordered_at as date) as order_date,
        'USD' as currency,
        cast(1.0 as double) as rate_to_eur,  -- one currency (sources.yml `currency: USD`): amounts stay in USD
        'store' as sales_channel,
        'completed' as status,
        cast(null as timestamp) as loaded_at
    from baskets

)

select * from final
