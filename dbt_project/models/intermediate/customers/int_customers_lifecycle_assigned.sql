-- Lifecycle stage of every resolved customer at the as-of date; the first matching rule wins
-- (rules and thresholds in _customers__models.yml and dbt_project.yml vars).
with

customers as (

    select customer_id from {{ ref('int_customers_resolved') }}

),

orders as (

    select * from {{ ref('int_orders_summed_to_customer') }}

),

rfm as (

    select * from {{ ref('int_customers_rfm_scored') }}

),

final as (

    select
        customers.customer_id,
        case
            when orders.customer_id is null then 'prospect'
            when {{ days_before_as_of('orders.first_order_date') }} <= {{ var('lifecycle_new_days') }} then 'new'
            when orders.recency_days > {{ var('lifecycle_churned_days') }} then 'churned'
            when orders.recency_days > {{ var('lifecycle_at_risk_days') }} then 'at_risk'
            when orders.reactivation_gap_days >= {{ var('lifecycle_reactivated_gap_days') }} then 'reactivated'
            when rfm.monetary_score = 5 and rfm.frequency_score >= 4 then 'vip'
            else 'active'
        end as lifecycle_stage
    from customers
    left join orders on customers.customer_id = orders.customer_id
    left join rfm on customers.customer_id = rfm.customer_id

)

select * from final
