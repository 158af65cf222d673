{{ config(materialized="table") }}  -- the one scan of the raw files: stg_ views, tests and quarantine read this table
-- Every e-mail event row, typed, with the reason it cannot be used (null = usable).
with

source as (

    select * from {{ source('email', 'events') }}

),

typed as (

    select
        -- the ESP's ids are integers; a bigint key makes the de-duplication and the unique test much cheaper
        try_cast(trim(event_id) as bigint) as event_id,
        nullif(trim(event_id), '') is not null as has_event_id,
        {{ normalize_email('email_address') }} as email,
        lower(trim(event_type)) as event_type,
        nullif(trim(campaign_code), '') as campaign_code,
        try_cast(trim(cast(event_at as varchar)) as timestamp) as event_at,
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
            when not has_event_id then 'missing_event_id'
            when event_id is null then 'invalid_event_id'
            when event_rank > 1 then 'duplicate_event_id'
            when email is null then 'missing_email'
            when event_at is null then 'invalid_event_at'
            when event_type not in ('send', 'open', 'click', 'unsubscribe', 'bounce')
                or event_type is null then 'invalid_event_type'
        end as rejection_reason
    from ranked

)

select * exclude (has_event_id, event_rank) from final
