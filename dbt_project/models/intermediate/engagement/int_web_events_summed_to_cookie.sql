{%- set days = ref('int_web_events_summed_to_cookie_day') -%}
{{ derived_incremental_config(['stg_web__events'], dirty_key='cookie_id') }}
-- a daily build recomputes only the cookies of the changed days (macros/incremental_derived.sql)
-- The web measures that span all history, per cookie, before the as-of date: the last visit and the last login.
-- Kept as last dates so that a daily build knows which cookies a changed day can alter (keys_of_changed_days);
-- the customer summary adds the last 30 days from the per-day sums.
{%- set mode = prepare_dirty_keys(
    inputs=per_day_files_input(days, 'web/events'),
    fingerprint=upstream_fingerprint(days),
    dirty=keys_of_changed_days(days, 'cookie_id', ref('base_web__events'), 'event_id',
        ['last_visit_date', 'last_login_date']),
    removable=['as_of_date'],
) %}
with

days as (

    select * from {{ days }}
    where event_date < {{ as_of_date() }} and cookie_id is not null and {{ dirty_keys_only('cookie_id', mode) }}

),

final as (

    select
        cookie_id,
        max(event_date) as last_visit_date,
        max(case when logins > 0 then event_date end) as last_login_date
    from days
    group by cookie_id

)

select * from final
