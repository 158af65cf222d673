{{ config(
    materialized=event_base_materialization(),
    incremental_strategy="append_new_files",
    on_schema_change="fail",
    meta={"supersede": {"key": "event_id", "keep": "first_file", "duplicate": "duplicate_event_id",
        "key_rejections": ["missing_event_id", "invalid_event_id"]}},
    pre_hook="{{ part_files_before_load('email', 'events') }}",
    post_hook=[
        "{{ part_files_after_load('email', 'events') }}",
        "{{ forget_erased_addresses() }}",
    ],
) }}  -- a daily build appends the new part files' rows (macros/incremental.sql); stg_ views, tests and quarantine read this table
-- Every e-mail event row, typed, with the reason it cannot be used (null = usable). An erased customer's events
-- are kept for the quarantine count only, without the address.
with

source as (

    select * from {{ raw_source('email', 'events') }}
    where {{ only_new_part_files('email', 'events') }}

),

erased_emails as (

    select * from {{ ref('base_crm__erased_emails') }}

),

typed as (

    select
        -- the ESP's ids are integers; a bigint key makes the de-duplication and the unique test much cheaper
        try_cast(trim(event_id) as bigint) as event_id,
        nullif(trim(event_id), '') is not null as has_event_id,
        {{ normalize_email('email_address') }} as email,
        lower(trim(event_type)) as event_type,
        nullif(trim(campaign_code), '') as campaign_code,
        {{ to_utc_timestamp('event_at') }} as event_at,
        filename as source_file
    from source

),

ranked as (

    select
        typed.*,
        erased_emails.email is not null as is_erased_email,
        row_number() over (partition by typed.event_id order by typed.source_file) as event_rank
    from typed
    -- a few thousand addresses at most: a hash join in the same pass, not another scan of the events
    left join erased_emails on typed.email = erased_emails.email

),

final as (

    select
        event_id,
        case when not is_erased_email then email end as email,
        event_type,
        campaign_code,
        event_at,
        source_file,
        case
            when not has_event_id then 'missing_event_id'
            when event_id is null then 'invalid_event_id'
            when event_rank > 1 then 'duplicate_event_id'
            when is_erased_email then 'erased_customer'
            when email is null then 'missing_email'
            when event_at is null then 'invalid_event_at'
            when event_type not in ('send', 'open', 'click', 'unsubscribe', 'bounce')
                or event_type is null then 'invalid_event_type'
        end as rejection_reason
    from ranked

)

select * from final
