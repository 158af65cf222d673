{{ config(enabled=provides_contract('stg_ecommerce__order_lines', 'generated')) }}  -- a staging contract: README "Bring your own data"
with

order_lines as (

    select * from {{ ref('base_ecommerce__order_lines') }}
    where rejection_reason is null

),

final as (

    select
        order_line_id,
        order_id,
        product_id,
        quantity,
        list_price_local,
        paid_price_local,
        is_returned
    from order_lines

)

select * from final
