-- E-mail engagement per customer: each day's events (int_email_events_summed_to_day, incremental) resolved to the
-- CRM customer by the sender's customer key when it has one, else by normalized e-mail (email_events_resolved).
-- Rates count campaigns, not events: a campaign opened three times is one open.
-- Campaign counts are two plain aggregations (per customer and campaign, then per customer), not count(distinct).
with

days as (

    select * from {{ ref('int_email_events_summed_to_day') }}
    where event_date < {{ as_of_date() }}

),

resolved as (

    {{ email_events_resolved('days') }}

),

flagged as (

    select
        *,
        {{ within_days_before_as_of('event_date', 90) }} as is_last_90d,
        coalesce(lower(campaign_code) like '%gift%', false) as is_gift_campaign
    from resolved

),

summed_to_campaign as (

    select
        customer_id,
        campaign_code,
        sum(case when is_last_90d then sends else 0 end) as sends_last_90d,
        sum(case when is_last_90d then opens else 0 end) as opens_last_90d,
        sum(case when is_last_90d then clicks else 0 end) as clicks_last_90d,
        coalesce(bool_or(is_gift_campaign and sends > 0), false) as is_gift_sent,
        coalesce(bool_or(is_gift_campaign and clicks > 0), false) as is_gift_clicked,
        bool_or(unsubscribes > 0) as has_unsubscribe,
        bool_or(bounces > 0) as has_bounce
    from flagged
    group by customer_id, campaign_code

),

summed as (

    select
        customer_id,
        cast(sum(sends_last_90d) as bigint) as email_sends_last_90d,
        cast(sum(opens_last_90d) as bigint) as email_opens_last_90d,
        cast(sum(clicks_last_90d) as bigint) as email_clicks_last_90d,
        count(case when sends_last_90d > 0 then campaign_code end) as campaigns_sent_90d,
        count(case when opens_last_90d > 0 then campaign_code end) as campaigns_opened_90d,
        count(case when is_gift_sent then campaign_code end) as gift_campaigns_sent,
        count(case when is_gift_clicked then campaign_code end) as gift_campaigns_clicked,
        bool_or(has_unsubscribe) as has_unsubscribed_email,
        bool_or(has_bounce) as has_bounced_email
    from summed_to_campaign
    group by customer_id

),

final as (

    select
        customer_id,
        email_sends_last_90d,
        email_opens_last_90d,
        email_clicks_last_90d,
        case when campaigns_sent_90d > 0
            then {{ round_double('least(cast(campaigns_opened_90d as double) / campaigns_sent_90d, 1)', 4) }} end as email_open_rate,
        case when gift_campaigns_sent > 0
            then {{ round_double('least(cast(gift_campaigns_clicked as double) / gift_campaigns_sent, 1)', 4) }} end
            as gift_campaign_click_rate,
        has_unsubscribed_email,
        has_bounced_email
    from summed

)

select * from final
