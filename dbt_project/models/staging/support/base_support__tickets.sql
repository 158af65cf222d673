{{ config(materialized="table") }}  -- the one scan of the raw files: stg_ views, tests and quarantine read this table
-- Every support ticket row, typed, with the reason it cannot be used (null = usable).
with

source as (

    select * from {{ raw_source('support', 'tickets') }}

),

typed as (

    select
        trim(ticket_id) as ticket_id,
        upper(trim(customer_id)) as customer_id,
        {{ to_utc_timestamp('created_at') }} as created_at,
        lower(nullif(trim(category), '')) as category,
        lower(nullif(trim(status), '')) as status,
        try_cast(trim(satisfaction_score) as integer) as satisfaction_score,
        filename as source_file
    from source

),

ranked as (

    select
        *,
        row_number() over (partition by ticket_id order by source_file desc) as ticket_rank
    from typed

),

final as (

    select
        *,
        case
            when ticket_id is null or ticket_id = '' then 'missing_ticket_id'
            when ticket_rank > 1 then 'duplicate_ticket_id'
            when customer_id is null or customer_id = '' then 'missing_customer_id'
            when created_at is null then 'invalid_created_at'
        end as rejection_reason
    from ranked

)

select * from final
