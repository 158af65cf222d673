{{ config(materialized="table") }}  -- the one scan of the raw files: stg_ views, tests and quarantine read this table
-- Every web event row, typed, with the reason it cannot be used (null = usable).
with

source as (

    select * from {{ source('web', 'events') }}

),

typed as (

    select
        trim(cast(event_id as varchar)) as event_id,
        nullif(trim(cast(cookie_id as varchar)), '') as cookie_id,
        upper(nullif(trim(cast(customer_id as varchar)), '')) as customer_id,
        lower(trim(cast(event_type as varchar))) as event_type,
        try_cast(event_at as timestamp) as event_at,
        nullif(trim(cast(product_id as varchar)), '') as product_id,
        lower(nullif(trim(cast(category as varchar)), '')) as category,
        lower(nullif(trim(cast(department as varchar)), '')) as department,
        lower(nullif(trim(cast(device as varchar)), '')) as device,
        filename as source_file
    from source

),

ranked as (

    select
        *,
        row_number() over (partition by event_id order by source_file) as event_rank
    from typed

),

final as (

    select
        *,
        case
            when event_id is null or event_id = '' then 'missing_event_id'
            when event_rank > 1 then 'duplicate_event_id'
            when cookie_id is null then 'missing_cookie_id'
            when event_at is null then 'invalid_event_at'
            when event_type not in (
                'session_start', 'page_view', 'category_view', 'product_view', 'add_to_cart', 'login'
            ) or event_type is null then 'invalid_event_type'
        end as rejection_reason
    from ranked

)

select * from final
