{%- set base = ref('base_web__events') -%}
{{ derived_incremental_config(['stg_web__events'], dirty_key='event_date') }}
-- a daily build recomputes only the days of the new part files (macros/incremental_derived.sql)
-- Web events per cookie and day, every day (no as-of date), so that a daily build adds one day's rows and the
-- customer summary reads these instead of every event. The new-collection flag reads the catalogue: a changed
-- catalogue recomputes every day.
{%- set mode = prepare_dirty_keys(
    inputs=loaded_files_input(base, 'web/events'),
    fingerprint=rows_hash(ref('stg_ecommerce__products'), 'product_id, is_new_collection'),
    dirty=event_dates_of_changed_files(base, 'event_id'),
) %}
with

events as (

    select * from {{ ref('stg_web__events') }}
    where {{ dirty_keys_only('cast(event_at as date)', mode) }}

),

products as (

    select product_id, is_new_collection from {{ ref('stg_ecommerce__products') }}

),

flagged as (

    select
        events.cookie_id,
        events.event_type,
        cast(events.event_at as date) as event_date,
        events.event_type in ('category_view', 'product_view', 'add_to_cart')
            and events.category like '%running%' as is_running_shoes,
        events.event_type in ('product_view', 'add_to_cart')
            and coalesce(products.is_new_collection, false) as is_new_collection
    from events
    left join products on events.product_id = products.product_id

),

final as (

    select
        cookie_id,
        event_date,
        count(case when event_type = 'login' then 1 end) as logins,
        count(case when event_type = 'session_start' then 1 end) as sessions,
        count(case when event_type = 'product_view' then 1 end) as product_views,
        coalesce(bool_or(is_running_shoes), false) as browsed_running_shoes,
        coalesce(bool_or(is_new_collection), false) as browsed_new_collection
    from flagged
    group by cookie_id, event_date

)

-- ordered by day, so the summaries' window filters skip the row groups of the other days
select * from final order by event_date
