{{ config(materialized='table', schema='ml_features', tags=['ml']) }}
{#- E-mail engagement per customer and cutoff from e-mail events strictly before the cutoff (365-day lookback). -#}
with email_events as (
    select * from {{ ref('stg_email__events') }}
),

cutoffs as (
    select cutoff_date from {{ ref('ml_cutoffs') }}
),

email_days as (
    -- summed to a day before resolving: far fewer rows to join (customer_id is null when the sender keys by address)
    select
        customer_id,
        email,
        cast(event_at as date) as event_date,
        count(*) filter (where event_type = 'send') as sends,
        count(*) filter (where event_type = 'open') as opens,
        count(*) filter (where event_type = 'click') as clicks,
        count(*) filter (where event_type = 'unsubscribe') as unsubscribes,
        count(*) filter (where event_type = 'bounce') as bounces
    from email_events
    group by customer_id, email, cast(event_at as date)
),

resolved_days as (
    -- by the sender's customer key, else by address (an address shared by several CRM records: the identity graph's rule)
    {{ email_events_resolved('email_days') }}
),

customer_days as (
    select
        resolved_days.customer_id,
        cutoffs.cutoff_date,
        {{ dbt.datediff('resolved_days.event_date', 'cutoffs.cutoff_date', 'day') }} as age_days,
        {{ star_except('resolved_days', ['customer_id', 'event_date']) }}
    from resolved_days
    inner join cutoffs
        on resolved_days.event_date < cutoffs.cutoff_date
        and resolved_days.event_date >= {{ dbt.dateadd('day', -365, 'cutoffs.cutoff_date') }}
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
        cast(sum(bounces) > 0 as integer) as has_bounced_365d
    from customer_days
    group by customer_id, cutoff_date
)

select * from final
