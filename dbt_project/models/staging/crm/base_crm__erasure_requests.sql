{{ config(materialized="table") }}  -- the one scan of the raw files: stg_ views, tests and quarantine read this table
-- Every erasure request row, typed, with the reason it cannot be used (null = usable).
with

source as (

    select * from {{ raw_source('crm', 'erasure_requests') }}

),

typed as (

    select
        upper(trim(customer_id)) as customer_id,
        {{ to_utc_timestamp('requested_at') }} as requested_at,
        filename as source_file
    from source

),

final as (

    select
        *,
        case
            when customer_id is null or not {{ is_valid_customer_id('customer_id') }} then 'invalid_customer_id'
        end as rejection_reason
    from typed

)

select * from final
