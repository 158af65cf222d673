{{ config(materialized='table', schema='ml_features', tags=['ml']) }}
{#-
    Browsing features per customer and cutoff from web events strictly before the cutoff (365-day lookback).
    Identity is re-resolved as of each cutoff: a cookie belongs to the customer of its latest login before
    the cutoff. `int_web_events_identified` resolves cookies with the latest login ever, which would attribute
    browsing through logins made after the cutoff (leakage), so this model reads the staged events.
-#}
with events as (
    select * from {{ ref('stg_web__events') }}
),

cutoffs as (
    select cutoff_date from {{ ref('ml_cutoffs') }}
),

logins as (
    select cookie_id, customer_id, event_at
    from events
    where event_type = 'login' and customer_id is not null
),

cookie_owners as (
    select
        cutoffs.cutoff_date,
        logins.cookie_id,
        arg_max(logins.customer_id, logins.event_at) as customer_id,
    from logins
    inner join cutoffs on logins.event_at < cutoffs.cutoff_date
    group by cutoffs.cutoff_date, logins.cookie_id
),

cookie_days as (
    select
        cookie_id,
        cast(event_at as date) as event_date,
        count(*) filter (where event_type = 'session_start') as sessions,
        count(*) filter (where event_type = 'product_view') as product_views,
        count(*) filter (where event_type = 'add_to_cart') as add_to_carts,
    from events
    group by cookie_id, cast(event_at as date)
),

customer_days as (
    select
        cookie_owners.customer_id,
        cookie_owners.cutoff_date,
        {{ dbt.datediff('cookie_days.event_date', 'cookie_owners.cutoff_date', 'day') }} as age_days,
        cookie_days.sessions,
        cookie_days.product_views,
        cookie_days.add_to_carts,
    from cookie_days
    inner join cookie_owners
        on cookie_days.cookie_id = cookie_owners.cookie_id
        and cookie_days.event_date < cookie_owners.cutoff_date
        and cookie_days.event_date >= {{ dbt.dateadd('day', -365, 'cookie_owners.cutoff_date') }}
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
        count(distinct age_days) filter (where age_days <= 30) as active_days_30d,
    from customer_days
    group by customer_id, cutoff_date
),

login_activity as (
    select
        logins.customer_id,
        cutoffs.cutoff_date,
        min({{ dbt.datediff('cast(logins.event_at as date)', 'cutoffs.cutoff_date', 'day') }}) as days_since_last_login,
        count(*) filter (where logins.event_at >= {{ dbt.dateadd('day', -90, 'cutoffs.cutoff_date') }}) as logins_90d,
    from logins
    inner join cutoffs on logins.event_at < cutoffs.cutoff_date
    group by logins.customer_id, cutoffs.cutoff_date
),

final as (
    select
        coalesce(browsing.customer_id, login_activity.customer_id) as customer_id,
        coalesce(browsing.cutoff_date, login_activity.cutoff_date) as cutoff_date,
        browsing.* exclude (customer_id, cutoff_date),
        login_activity.* exclude (customer_id, cutoff_date),
    from browsing
    full outer join login_activity
        on browsing.customer_id = login_activity.customer_id
        and browsing.cutoff_date = login_activity.cutoff_date
)

select * from final
