-- Browsing per resolved customer before the as-of date: recency of visits and logins, last-30-day activity.
-- The recencies come from the all-time last dates per cookie (int_web_events_summed_to_cookie, incremental), the
-- 30-day activity from the per-day sums of those 30 days only (int_web_events_summed_to_cookie_day), so a daily
-- build reads neither every day nor every event. Each cookie's rows go to the customer who owns the cookie in
-- int_customer_identities; every measure composes (max, sum, any).
with

last_30_days as (

    -- constant bounds: DuckDB skips the per-day table's row groups of other days (it is ordered by day)
    select * from {{ ref('int_web_events_summed_to_cookie_day') }}
    where event_date >= {{ as_of_date_minus(30) }} and event_date < {{ as_of_date() }}

),

cookie_rows as (

    select
        cookie_id, last_visit_date, last_login_date,
        0 as sessions, 0 as product_views, false as browsed_running_shoes, false as browsed_new_collection
    from {{ ref('int_web_events_summed_to_cookie') }}
    union all
    select
        cookie_id, cast(null as date), cast(null as date),
        sessions, product_views, browsed_running_shoes, browsed_new_collection
    from last_30_days

),

cookie_owners as (

    select identity_value as cookie_id, customer_id from {{ ref('int_customer_identities') }}
    where identity_type = 'cookie'

),

summed as (

    select
        cookie_owners.customer_id,
        max(cookie_rows.last_visit_date) as last_visit_date,
        max(cookie_rows.last_login_date) as last_login_date,
        sum(cookie_rows.sessions) as sessions_last_30d,
        sum(cookie_rows.product_views) as product_views_last_30d,
        bool_or(cookie_rows.browsed_running_shoes) as browsed_running_shoes_last_30d,
        bool_or(cookie_rows.browsed_new_collection) as browsed_new_collection_last_30d
    from cookie_rows
    inner join cookie_owners on cookie_rows.cookie_id = cookie_owners.cookie_id
    group by cookie_owners.customer_id

),

final as (

    select
        customer_id,
        {{ datediff_bigint(days_before_as_of('last_visit_date')) }} as days_since_last_visit,
        {{ datediff_bigint(days_before_as_of('last_login_date')) }} as days_since_last_login,
        cast(sessions_last_30d as bigint) as sessions_last_30d,
        cast(product_views_last_30d as bigint) as product_views_last_30d,
        browsed_running_shoes_last_30d,
        browsed_new_collection_last_30d
    from summed

)

select * from final
