{{ config(materialized='table', schema='ml_features', tags=['ml']) }}
{#- E-mail engagement per customer and cutoff from e-mail events strictly before the cutoff (365-day lookback). -#}
with email_events as (
    select * from {{ ref('stg_email__events') }}
),

customers as (
    -- an address shared by several CRM records belongs to one customer (the identity graph's rule)
    select customer_id, identity_value as email
    from {{ ref('int_customer_identities') }}
    where identity_type = 'email'
),

cutoffs as (
    select cutoff_date from {{ ref('ml_cutoffs') }}
),

email_days as (
    select
        email,
        cast(event_at as date) as event_date,
        count(*) filter (where event_type = 'send') as sends,
        count(*) filter (where event_type = 'open') as opens,
        count(*) filter (where event_type = 'click') as clicks,
        count(*) filter (where event_type = 'unsubscribe') as unsubscribes,
        count(*) filter (where event_type = 'bounce') as bounces,
    from email_events
    group by email, cast(event_at as date)
),

customer_days as (
    select
        customers.customer_id,
        cutoffs.cutoff_date,
        {{ dbt.datediff('email_days.event_date', 'cutoffs.cutoff_date', 'day') }} as age_days,
        email_days.* exclude (email, event_date),
    from email_days
    inner join customers on email_days.email = customers.email
    inner join cutoffs
        on email_days.event_date < cutoffs.cutoff_date
        and email_days.event_date >= {{ dbt.dateadd('day', -365, 'cutoffs.cutoff_date') }}
),

final as (
    select
        customer_id,
        cutoff_date,
        coalesce(sum(sends) filter (where age_days <= 90), 0) as email_sends_90d,
        coalesce(sum(opens) filter (where age_days <= 90), 0) as email_opens_90d,
        coalesce(sum(clicks) filter (where age_days <= 90), 0) as email_clicks_90d,
        sum(opens) filter (where age_days <= 90) / nullif(sum(sends) filter (where age_days <= 90), 0)
            as email_open_rate_90d,
        sum(clicks) filter (where age_days <= 90) / nullif(sum(sends) filter (where age_days <= 90), 0)
            as email_click_rate_90d,
        min(age_days) filter (where opens > 0) as days_since_last_email_open,
        min(age_days) filter (where clicks > 0) as days_since_last_email_click,
        cast(sum(unsubscribes) > 0 as integer) as has_unsubscribed_365d,
        cast(sum(bounces) > 0 as integer) as has_bounced_365d,
    from customer_days
    group by customer_id, cutoff_date
)

select * from final
