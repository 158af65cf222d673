{{ config(materialized="table") }}  -- the one scan of the raw files: stg_ views, tests and quarantine read this table
-- Every order line row, typed, with the reason it cannot be used (null = usable).
with

source as (

    select * from {{ source('ecommerce', 'order_lines') }}

),

typed as (

    select
        trim(cast(order_line_id as varchar)) as order_line_id,
        trim(cast(order_id as varchar)) as order_id,
        trim(cast(product_id as varchar)) as product_id,
        try_cast(quantity as integer) as quantity,
        try_cast(list_price_local as double) as list_price_local,
        try_cast(paid_price_local as double) as paid_price_local,
        coalesce(try_cast(is_returned as boolean), false) as is_returned,
        filename as source_file
    from source

),

ranked as (

    select
        *,
        row_number() over (partition by order_line_id order by source_file desc) as line_rank
    from typed

),

final as (

    select
        *,
        case
            when order_line_id is null or order_line_id = '' then 'missing_order_line_id'
            when line_rank > 1 then 'duplicate_order_line_id'
            when order_id is null or order_id = '' then 'missing_order_id'
            when quantity is null or quantity <= 0 then 'invalid_quantity'
            when paid_price_local is null or paid_price_local < 0
                or list_price_local is null or list_price_local < 0 then 'invalid_price'
        end as rejection_reason
    from ranked

)

select * from final
