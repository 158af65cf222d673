{%- set base = ref('base_email__events') -%}
{{ derived_incremental_config(['stg_email__events'], dirty_key='event_date') }}
-- a daily build recomputes only the days of the new part files (macros/incremental_derived.sql)
-- E-mail events per sender's customer key, address, campaign and day, every day (no as-of date), unresolved (the
-- customer summary resolves these rows as it resolved events). When the erasure update blanked loaded rows (its
-- `blanked_at` moved; a CRM file that erases no one new does not move it), every day is recomputed.
{%- set mode = prepare_dirty_keys(
    inputs=loaded_files_input(base, 'email/events'),
    fingerprint="coalesce(cast(" ~ erased_addresses_blanked_at(base.schema) ~ " as varchar), '')"
        if execute and target.type == 'duckdb' else "''",
    dirty=event_dates_of_changed_files(base, 'event_id'),
) %}
with

events as (

    select * from {{ ref('stg_email__events') }}
    where {{ dirty_keys_only('cast(event_at as date)', mode) }}

),

final as (

    select
        customer_id,
        email,
        campaign_code,
        cast(event_at as date) as event_date,
        count(case when event_type = 'send' then 1 end) as sends,
        count(case when event_type = 'open' then 1 end) as opens,
        count(case when event_type = 'click' then 1 end) as clicks,
        count(case when event_type = 'unsubscribe' then 1 end) as unsubscribes,
        count(case when event_type = 'bounce' then 1 end) as bounces
    from events
    group by customer_id, email, campaign_code, cast(event_at as date)

)

-- ordered by day, so the summaries' window filters skip the row groups of the other days
select * from final order by event_date
