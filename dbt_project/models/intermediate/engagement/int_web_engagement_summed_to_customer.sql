-- Browsing per resolved customer before the as-of date: recency of visits and logins, last-30-day activity.
with

events as (

    select * from {{ ref('int_web_events_identified') }}
    where customer_id is not null and event_at < {{ as_of_date() }}

),

products as (

    select product_id, is_new_collection from {{ ref('stg_ecommerce__products') }}

),

flagged as (

    select
        events.customer_id,
        events.event_type,
        cast(events.event_at as date) as event_date,
        {{ within_days_before_as_of('events.event_at', 30) }} as is_last_30d,
        events.event_type in ('category_view', 'product_view', 'add_to_cart')
            and events.category like '%running%' as is_running_shoes,
        events.event_type in ('product_view', 'add_to_cart')
            and coalesce(products.is_new_collection, false) as is_new_collection
    from events
    left join products on events.product_id = products.product_id

),

summed as (

    select
        customer_id,
        max(event_date) as last_visit_date,
        max(case when event_type = 'login' then event_date end) as last_login_date,
        count(case when is_last_30d and event_type = 'session_start' then 1 end) as sessions_last_30d,
        count(case when is_last_30d and event_type = 'product_view' then 1 end) as product_views_last_30d,
        coalesce(max(case when is_last_30d and is_running_shoes then 1 else 0 end), 0) = 1
            as browsed_running_shoes_last_30d,
        coalesce(max(case when is_last_30d and is_new_collection then 1 else 0 end), 0) = 1
            as browsed_new_collection_last_30d
    from flagged
    group by customer_id

),

final as (

    select
        customer_id,
        {{ days_before_as_of('last_visit_date') }} as days_since_last_visit,
        {{ days_before_as_of('last_login_date') }} as days_since_last_login,
        sessions_last_30d,
        product_views_last_30d,
        browsed_running_shoes_last_30d,
        browsed_new_collection_last_30d
    from summed

)

select * from final
