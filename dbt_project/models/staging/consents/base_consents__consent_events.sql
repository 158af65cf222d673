{{ config(
    materialized=event_base_materialization(),
    incremental_strategy="append_new_files",
    on_schema_change="sync_all_columns",
    meta={"supersede": {"key": ["customer_id", "channel", "action", "event_at"], "keep": "first_file",
        "duplicate": "duplicate_row",
        "key_rejections": ["missing_customer_id", "invalid_channel", "invalid_action", "invalid_event_at"]}},
    pre_hook="{{ part_files_before_load('consents', 'events') }}",
    post_hook="{{ part_files_after_load('consents', 'events') }}",
) }}  -- a daily build appends the new part files' rows, or reloads them all (macros/incremental.sql); stg_ views, tests and quarantine read this table
-- Every consent event row, typed, with the reason it cannot be used (null = usable).
with

source as (

    select * from {{ raw_source('consents', 'events') }}
    where {{ only_new_part_files('consents', 'events', reload_when="''") }}

),

typed as (

    select
        upper(trim(customer_id)) as customer_id,
        lower(trim(channel)) as channel,
        lower(replace(trim(action), '-', '_')) as action,
        {{ to_utc_timestamp('event_at') }} as event_at,
        lower(nullif(trim(source), '')) as source,
        filename as source_file
    from source

),

ranked as (

    select
        *,
        row_number() over (
            -- `source` last: repeats in one file keep the same row in a full and a daily build
            partition by customer_id, channel, action, event_at order by source_file, source asc nulls last
        ) as duplicate_rank
    from typed

),

final as (

    select
        *,
        case
            when customer_id is null or customer_id = '' then 'missing_customer_id'
            when channel not in ('email', 'sms', 'push') or channel is null then 'invalid_channel'
            when action not in ('opt_in', 'opt_out') or action is null then 'invalid_action'
            when event_at is null then 'invalid_event_at'
            when duplicate_rank > 1 then 'duplicate_row'
        end as rejection_reason
    from ranked

)

-- the rank is among the rows this build read (a daily build: the new files'); the table keeps the reason only
select {{ star_except('final', ['duplicate_rank']) }} from final
