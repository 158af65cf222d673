{{ config(enabled=provides_contract('stg_ecommerce__products', 'generated')) }}  -- a staging contract: README "Bring your own data"
with

products as (

    select * from {{ ref('base_ecommerce__products') }}
    where rejection_reason is null

),

final as (

    select
        product_id,
        product_name,
        department,
        category,
        is_new_collection,
        collection_launch_date,
        list_price_eur
    from products

)

select * from final
