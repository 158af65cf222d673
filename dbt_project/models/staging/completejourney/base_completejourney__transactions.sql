{{ config(enabled='completejourney' in var('contracts', {}).values(), materialized="table") }}  -- the one scan of the raw file
-- Every transaction row (one product in one basket), typed, with the reason it cannot be used (null = usable).
with

source as (

    select * from {{ source('completejourney', 'transactions') }}

),

metered_products as (

    -- a fuel line's quantity is the pump's meter reading (median about 10,000), not a count of items
    select distinct cast(product_id as {{ string_type() }}) as product_id
    from {{ source('completejourney', 'products') }}
    where upper(product_type) like 'GASOLINE%'

),

typed as (

    select
        cast(household_id as {{ string_type() }}) as customer_id,
        cast(basket_id as {{ string_type() }}) as order_id,
        cast(source.product_id as {{ string_type() }}) as product_id,
        -- no time zone in the data: the store's local time is taken as UTC (recency is counted in days)
        cast(transaction_timestamp as timestamp) as ordered_at,
        try_cast(quantity as integer) as quantity_recorded,
        -- one fill-up is one item; every other line's quantity is its items
        case
            when metered_products.product_id is not null and try_cast(quantity as integer) > 0 then 1
            else try_cast(quantity as integer)
        end as quantity,
        try_cast(sales_value as double) as sales_value,
        coalesce(try_cast(retail_disc as double), 0) as retail_discount,
        coalesce(try_cast(coupon_disc as double), 0) as coupon_discount,
        coalesce(try_cast(coupon_match_disc as double), 0) as coupon_match_discount,
        filename as source_file
    from source
    left join metered_products on cast(source.product_id as {{ string_type() }}) = metered_products.product_id

),

ranked as (

    select
        *,
        row_number() over (partition by order_id, product_id order by source_file) as line_rank
    from typed

),

final as (

    select
        *,
        case
            when customer_id is null or not {{ is_valid_customer_id('customer_id') }} then 'invalid_customer_id'
            when order_id is null then 'missing_order_id'
            when ordered_at is null then 'invalid_ordered_at'
            when product_id is null then 'missing_product_id'
            when line_rank > 1 then 'duplicate_order_line_id'
            -- e.g. fuel and coupon lines booked with quantity 0: no unit price can be read from them
            when quantity is null or quantity <= 0 then 'invalid_quantity'
            when sales_value is null or sales_value < 0
                or retail_discount < 0 or coupon_discount < 0 or coupon_match_discount < 0 then 'invalid_price'
        end as rejection_reason
    from ranked

)

select {{ star_except('final', ['line_rank']) }} from final
