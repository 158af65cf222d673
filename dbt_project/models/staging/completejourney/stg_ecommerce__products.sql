{{ config(enabled=provides_contract('stg_ecommerce__products', 'completejourney')) }}  -- a staging contract: README "Bring your own data"
-- The catalogue's departments as they are (lowercased: grocery, drug gm, produce, meat-pckgd, ...). The data set has
-- no product names, collections or list prices: the product type stands in for the name.
with

products as (

    select * from {{ ref('base_completejourney__products') }}
    where rejection_reason is null

),

final as (

    select
        product_id,
        product_type as product_name,
        department,
        category,
        false as is_new_collection,
        cast(null as date) as collection_launch_date,
        cast(null as double) as list_price_eur
    from products

)

select * from final
