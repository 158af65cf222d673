-- Public: the customer profile, one row per resolved, non-erased customer at the as-of date.
-- Every rule lives in the intermediate model it names; this model only assembles and fills defaults.
with

attributes as (select * from {{ ref('int_customers_attributes_joined') }}),
orders as (select * from {{ ref('int_orders_summed_to_customer') }}),
baskets as (select * from {{ ref('int_order_lines_summed_to_customer') }}),
rfm as (select * from {{ ref('int_customers_rfm_scored') }}),
lifecycle as (select * from {{ ref('int_customers_lifecycle_assigned') }}),
web as (select * from {{ ref('int_web_engagement_summed_to_customer') }}),
email as (select * from {{ ref('int_email_engagement_summed_to_customer') }}),
support as (select * from {{ ref('int_support_tickets_summed_to_customer') }}),
scores as (select * from {{ ref('int_model_scores_pivoted_to_customer') }}),

final as (

    select
        attributes.*,
        orders.first_order_date,
        orders.last_order_date,
        coalesce(orders.orders_count, 0) as orders_count,
        coalesce(orders.revenue_eur, 0) as revenue_eur,
        orders.avg_order_value_eur,
        coalesce(orders.orders_last_90d, 0) as orders_last_90d,
        coalesce(orders.revenue_last_90d_eur, 0) as revenue_last_90d_eur,
        coalesce(orders.orders_last_365d, 0) as orders_last_365d,
        coalesce(orders.revenue_last_365d_eur, 0) as revenue_last_365d_eur,
        coalesce(baskets.departments_bought_count, 0) as departments_bought_count,
        rfm.recency_days,
        rfm.recency_score,
        rfm.frequency_score,
        rfm.monetary_score,
        rfm.rfm_score,
        lifecycle.lifecycle_stage,
        coalesce(rfm.value_tier, 'none') as value_tier,
        {%- for department in ['women', 'men', 'shoes', 'kids', 'home', 'beauty'] %}
        coalesce(baskets.share_{{ department }}, 0) as share_{{ department }},
        {%- endfor %}
        baskets.top_department,
        coalesce(baskets.discount_share, 0) as discount_share,
        coalesce(baskets.discount_affinity, 'none') as discount_affinity,
        coalesce(baskets.new_collection_share, 0) as new_collection_share,
        coalesce(baskets.new_collection_affinity, 'none') as new_collection_affinity,
        web.days_since_last_visit,
        web.days_since_last_login,
        orders.recency_days as days_since_last_order,
        coalesce(web.sessions_last_30d, 0) as sessions_last_30d,
        coalesce(web.product_views_last_30d, 0) as product_views_last_30d,
        coalesce(web.browsed_running_shoes_last_30d, false) as browsed_running_shoes_last_30d,
        coalesce(web.browsed_new_collection_last_30d, false) as browsed_new_collection_last_30d,
        coalesce(email.email_sends_last_90d, 0) as email_sends_last_90d,
        coalesce(email.email_opens_last_90d, 0) as email_opens_last_90d,
        coalesce(email.email_clicks_last_90d, 0) as email_clicks_last_90d,
        email.email_open_rate,
        email.gift_campaign_click_rate,
        coalesce(email.has_unsubscribed_email, false) as has_unsubscribed_email,
        coalesce(email.has_bounced_email, false) as has_bounced_email,
        coalesce(support.support_tickets_last_90d, 0) as support_tickets_last_90d,
        support.avg_satisfaction,
        scores.purchase_14d_score,
        scores.purchase_14d_decile,
        scores.churn_60d_score,
        scores.churn_60d_decile,
        scores.value_90d_score,
        scores.value_90d_decile,
        {{ as_of_date() }} as as_of_date
    from attributes
    left join orders on attributes.customer_id = orders.customer_id
    left join baskets on attributes.customer_id = baskets.customer_id
    left join rfm on attributes.customer_id = rfm.customer_id
    left join lifecycle on attributes.customer_id = lifecycle.customer_id
    left join web on attributes.customer_id = web.customer_id
    left join email on attributes.customer_id = email.customer_id
    left join support on attributes.customer_id = support.customer_id
    left join scores on attributes.customer_id = scores.customer_id

)

select * from final
