{{ config(materialized='table', schema='ml_features', tags=['ml']) }}
{#-
    One row per customer signed up before the cutoff and cutoff: every feature the models may use, all
    computed from events strictly before `cutoff_date`. Absent activity is 0; absent recency stays null
    (LightGBM treats it as missing). `ml_training_features` and `ml_scoring_features` select from it, so
    training and scoring share one definition.
-#}
with customers as (
    select customer_id, signup_date, birth_date
    from {{ ref('int_customers_resolved') }}
    where not is_test_account
),

cutoffs as (
    select * from {{ ref('ml_cutoffs') }}
),

order_features as (
    select * from {{ ref('ml_order_features') }}
),

web_features as (
    select * from {{ ref('ml_web_features') }}
),

email_features as (
    select * from {{ ref('ml_email_features') }}
),

population as (
    select
        customers.customer_id,
        cutoffs.cutoff_date,
        cutoffs.is_scoring,
        {{ dbt.datediff('customers.signup_date', 'cutoffs.cutoff_date', 'day') }} as tenure_days,
        {{ dbt.datediff('customers.birth_date', 'cutoffs.cutoff_date', 'day') }} / 365.25 as age_years
    from customers
    inner join cutoffs on customers.signup_date < cutoffs.cutoff_date
),

final as (
    select
        population.*,
        coalesce(order_features.orders_lifetime, 0) as orders_lifetime,
        coalesce(order_features.revenue_lifetime_eur, 0) as revenue_lifetime_eur,
        coalesce(order_features.orders_30d, 0) as orders_30d,
        coalesce(order_features.orders_90d, 0) as orders_90d,
        coalesce(order_features.orders_365d, 0) as orders_365d,
        coalesce(order_features.orders_prev_90d, 0) as orders_prev_90d,
        coalesce(order_features.revenue_30d_eur, 0) as revenue_30d_eur,
        coalesce(order_features.revenue_90d_eur, 0) as revenue_90d_eur,
        coalesce(order_features.revenue_365d_eur, 0) as revenue_365d_eur,
        order_features.revenue_365d_eur / nullif(order_features.orders_365d, 0) as avg_order_value_365d_eur,
        order_features.orders_90d / nullif(order_features.orders_365d, 0) as order_trend_90d_365d,
        {{ star_except('order_features', [
            'customer_id', 'cutoff_date', 'orders_lifetime', 'revenue_lifetime_eur', 'orders_30d', 'orders_90d',
            'orders_365d', 'orders_prev_90d', 'revenue_30d_eur', 'revenue_90d_eur', 'revenue_365d_eur',
        ]) }},
        coalesce(web_features.sessions_7d, 0) as sessions_7d,
        coalesce(web_features.sessions_30d, 0) as sessions_30d,
        coalesce(web_features.sessions_90d, 0) as sessions_90d,
        coalesce(web_features.product_views_7d, 0) as product_views_7d,
        coalesce(web_features.product_views_30d, 0) as product_views_30d,
        coalesce(web_features.product_views_90d, 0) as product_views_90d,
        coalesce(web_features.add_to_carts_30d, 0) as add_to_carts_30d,
        coalesce(web_features.active_days_30d, 0) as active_days_30d,
        coalesce(web_features.logins_90d, 0) as logins_90d,
        web_features.sessions_30d / nullif(web_features.sessions_90d, 0) as session_trend_30d_90d,
        web_features.days_since_last_visit,
        web_features.days_since_last_login,
        coalesce(email_features.email_sends_90d, 0) as email_sends_90d,
        coalesce(email_features.email_opens_90d, 0) as email_opens_90d,
        coalesce(email_features.email_clicks_90d, 0) as email_clicks_90d,
        email_features.email_open_rate_90d,
        email_features.email_click_rate_90d,
        email_features.days_since_last_email_open,
        email_features.days_since_last_email_click,
        coalesce(email_features.has_unsubscribed_365d, 0) as has_unsubscribed_365d,
        coalesce(email_features.has_bounced_365d, 0) as has_bounced_365d
    from population
    left join order_features using (customer_id, cutoff_date)
    left join web_features using (customer_id, cutoff_date)
    left join email_features using (customer_id, cutoff_date)
)

select * from final
