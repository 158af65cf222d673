{{ config(materialized="table") }}  -- the one scan of the raw files: stg_ views, tests and quarantine read this table
-- Every loyalty member row, typed, with the reason it cannot be used (null = usable).
with

source as (

    select * from {{ raw_source('loyalty', 'members') }}

),

typed as (

    select
        upper(trim(customer_id)) as customer_id,
        lower(trim(tier)) as tier,
        -- unreadable ("lots"), negative or missing: rejected below, never read as 0
        try_cast(trim(points_balance) as integer) as points_balance,
        {{ to_utc_timestamp('enrolled_at') }} as enrolled_at,
        {{ to_utc_timestamp('updated_at') }} as updated_at,
        filename as source_file
    from source

),

final as (

    select
        *,
        case
            when customer_id is null or customer_id = '' then 'missing_customer_id'
            when tier not in ('bronze', 'silver', 'gold', 'platinum') or tier is null then 'invalid_tier'
            when points_balance is null or points_balance < 0 then 'invalid_points_balance'
        end as rejection_reason
    from typed

)

select * from final
