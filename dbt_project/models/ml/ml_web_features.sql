{{ config(materialized='table', schema='ml_features', tags=['ml']) }}
{#-
    Browsing features per customer and cutoff from web events strictly before the cutoff (365-day lookback).
    Identity is re-resolved as of each cutoff: a cookie belongs to the customer of its latest login before
    the cutoff. The cookie owners of `int_customer_identities` come from the latest login ever (they would
    attribute browsing through logins made after the cutoff), so they are not used here.
-#}
with events as (
    select cookie_id, event_type, event_at from {{ ref('stg_web__events') }}
),

logins as (
    select cookie_id, customer_id, event_at
    from {{ ref('stg_web__events') }}
    where event_type = 'login' and customer_id is not null
),

cutoffs as (
    select cutoff_date from {{ ref('ml_cutoffs') }}
),

logins_before_cutoff as (
    select
        cutoffs.cutoff_date,
        logins.cookie_id,
        logins.customer_id,
        logins.event_at
    from logins
    inner join cutoffs on logins.event_at < cutoffs.cutoff_date
),

cookie_owners as (
    select
        cutoff_date,
        cookie_id,
        max_by(customer_id, event_at) as customer_id
    from logins_before_cutoff
    group by cutoff_date, cookie_id
),

cookie_days as (
    select
        cookie_id,
        cast(event_at as date) as event_date,
        count(*) filter (where event_type = 'session_start') as sessions,
        count(*) filter (where event_type = 'product_view') as product_views,
        count(*) filter (where event_type = 'add_to_cart') as add_to_carts
    from events
    group by cookie_id, cast(event_at as date)
),

customer_days as (
    -- one row per customer, cutoff and active day (a customer may browse on several cookies)
    select
        cookie_owners.customer_id,
        cookie_owners.cutoff_date,
        {{ dbt.datediff('cookie_days.event_date', 'cookie_owners.cutoff_date', 'day') }} as age_days,
        sum(cookie_days.sessions) as sessions,
        sum(cookie_days.product_views) as product_views,
        sum(cookie_days.add_to_carts) as add_to_carts
    from cookie_days
    inner join cookie_owners
        on cookie_days.cookie_id = cookie_owners.cookie_id
        and cookie_days.event_date < cookie_owners.cutoff_date
        and cookie_days.event_date >= {{ dbt.dateadd('day', -365, 'cookie_owners.cutoff_date') }}
    group by 1, 2, 3
),

browsing as (
    select
        customer_id,
        cutoff_date,
        min(age_days) as days_since_last_visit,
        {%- for days in [7, 30, 90] %}
        coalesce(sum(sessions) filter (where age_days <= {{ days }}), 0) as sessions_{{ days }}d,
        coalesce(sum(product_views) filter (where age_days <= {{ days }}), 0) as product_views_{{ days }}d,
        {%- endfor %}
        coalesce(sum(add_to_carts) filter (where age_days <= 30), 0) as add_to_carts_30d,
        count(*) filter (where age_days <= 30) as active_days_30d
    from customer_days
    group by customer_id, cutoff_date
),

login_activity as (
    select
        customer_id,
        cutoff_date,
        min({{ dbt.datediff('cast(event_at as date)', 'cutoff_date', 'day') }}) as days_since_last_login,
        count(*) filter (where event_at >= {{ dbt.dateadd('day', -90, 'cutoff_date') }}) as logins_90d
    from logins_before_cutoff
    where event_at >= {{ dbt.dateadd('day', -365, 'cutoff_date') }}
    group by customer_id, cutoff_date
),

final as (
    select
        coalesce(browsing.customer_id, login_activity.customer_id) as customer_id,
        coalesce(browsing.cutoff_date, login_activity.cutoff_date) as cutoff_date,
        {{ star_except('browsing', ['customer_id', 'cutoff_date']) }},
        {{ star_except('login_activity', ['customer_id', 'cutoff_date']) }}
    from browsing
    full outer join login_activity
        on browsing.customer_id = login_activity.customer_id
        and browsing.cutoff_date = login_activity.cutoff_date
)

select * from final
