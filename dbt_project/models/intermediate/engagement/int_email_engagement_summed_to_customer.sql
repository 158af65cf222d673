-- E-mail engagement per customer, the ESP's address resolved to the CRM customer by normalized e-mail.
-- Rates count campaigns, not events: a campaign opened three times is one open.
-- Events are summed per address before the join: a customer owns at most one address (tested on
-- int_customer_identities), so per-address sums are per-customer sums and 18M events skip the join.
with

events as (

    select * from {{ ref('stg_email__events') }}
    where event_at < {{ as_of_date() }}

),

emails as (

    select * from {{ ref('int_customer_identities') }}
    where identity_type = 'email'

),

flagged as (

    select
        email,
        event_type,
        campaign_code,
        {{ within_days_before_as_of('event_at', 90) }} as is_last_90d,
        coalesce(lower(campaign_code) like '%gift%', false) as is_gift_campaign
    from events

),

summed_to_address as (

    select
        email,
        count(case when is_last_90d and event_type = 'send' then 1 end) as email_sends_last_90d,
        count(case when is_last_90d and event_type = 'open' then 1 end) as email_opens_last_90d,
        count(case when is_last_90d and event_type = 'click' then 1 end) as email_clicks_last_90d,
        count(distinct case when is_last_90d and event_type = 'send' then campaign_code end) as campaigns_sent_90d,
        count(distinct case when is_last_90d and event_type = 'open' then campaign_code end) as campaigns_opened_90d,
        count(distinct case when is_gift_campaign and event_type = 'send' then campaign_code end) as gift_campaigns_sent,
        count(distinct case when is_gift_campaign and event_type = 'click' then campaign_code end)
            as gift_campaigns_clicked,
        count(case when event_type = 'unsubscribe' then 1 end) > 0 as has_unsubscribed_email,
        count(case when event_type = 'bounce' then 1 end) > 0 as has_bounced_email
    from flagged
    group by email

),

summed as (

    select
        emails.customer_id,
        summed_to_address.* exclude (email)
    from summed_to_address
    inner join emails on summed_to_address.email = emails.identity_value

),

final as (

    select
        customer_id,
        email_sends_last_90d,
        email_opens_last_90d,
        email_clicks_last_90d,
        case when campaigns_sent_90d > 0
            then round(least(cast(campaigns_opened_90d as double) / campaigns_sent_90d, 1), 4) end as email_open_rate,
        case when gift_campaigns_sent > 0
            then round(least(cast(gift_campaigns_clicked as double) / gift_campaigns_sent, 1), 4) end
            as gift_campaign_click_rate,
        has_unsubscribed_email,
        has_bounced_email
    from summed

)

select * from final
