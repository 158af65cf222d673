-- Browsing per resolved customer before the as-of date: recency of visits and logins, last-30-day activity.
-- Events are summed per cookie and day (int_web_events_summed_to_cookie_day, incremental), then per cookie, then
-- each cookie's sums go to the customer who owns the cookie in int_customer_identities; every measure composes
-- (max, count, any).
with

days as (

    select * from {{ ref('int_web_events_summed_to_cookie_day') }}
    where event_date < {{ as_of_date() }}

),

cookie_owners as (

    select identity_value as cookie_id, customer_id from {{ ref('int_customer_identities') }}
    where identity_type = 'cookie'

),

flagged as (

    select
        *,
        {{ within_days_before_as_of('event_date', 30) }} as is_last_30d
    from days

),

summed_to_cookie as (

    select
        cookie_id,
        max(event_date) as last_visit_date,
        max(case when logins > 0 then event_date end) as last_login_date,
        sum(case when is_last_30d then sessions else 0 end) as sessions_last_30d,
        sum(case when is_last_30d then product_views else 0 end) as product_views_last_30d,
        coalesce(bool_or(is_last_30d and browsed_running_shoes), false) as browsed_running_shoes_last_30d,
        coalesce(bool_or(is_last_30d and browsed_new_collection), false) as browsed_new_collection_last_30d
    from flagged
    group by cookie_id

),

summed as (

    select
        cookie_owners.customer_id,
        max(summed_to_cookie.last_visit_date) as last_visit_date,
        max(summed_to_cookie.last_login_date) as last_login_date,
        sum(summed_to_cookie.sessions_last_30d) as sessions_last_30d,
        sum(summed_to_cookie.product_views_last_30d) as product_views_last_30d,
        bool_or(summed_to_cookie.browsed_running_shoes_last_30d) as browsed_running_shoes_last_30d,
        bool_or(summed_to_cookie.browsed_new_collection_last_30d) as browsed_new_collection_last_30d
    from summed_to_cookie
    inner join cookie_owners on summed_to_cookie.cookie_id = cookie_owners.cookie_id
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
