-- E-mail engagement per customer: 90-day sums from the per-day sums of those days only, all-time flags from the last
-- dates per sender and gift campaign (int_email_events_summed_to_sender, incremental): a daily build reads neither
-- every day nor every event. Rows resolve to the CRM customer by the sender's customer key, else by normalized
-- e-mail (email_events_resolved). Rates count campaigns (two plain aggregations), not events.
with

last_90_days as (

    -- constant bounds: DuckDB skips the per-day table's row groups of other days (it is ordered by day)
    select * from {{ ref('int_email_events_summed_to_day') }}
    where event_date >= {{ as_of_date_minus(90) }} and event_date < {{ as_of_date() }}

),

sender_rows as (

    select
        customer_id, email, campaign_code, sends, opens, clicks, cast(null as date) as last_gift_sent_date,
        cast(null as date) as last_gift_clicked_date, cast(null as date) as last_unsubscribe_date,
        cast(null as date) as last_bounce_date
    from last_90_days
    union all
    select customer_id, email, campaign_code, 0, 0, 0, last_gift_sent_date, last_gift_clicked_date,
        last_unsubscribe_date, last_bounce_date
    from {{ ref('int_email_events_summed_to_sender') }}

),

resolved as (

    {{ email_events_resolved('sender_rows') }}

),

summed_to_campaign as (

    select
        customer_id, campaign_code,
        sum(sends) as sends_last_90d,
        sum(opens) as opens_last_90d,
        sum(clicks) as clicks_last_90d,
        bool_or(last_gift_sent_date is not null) as is_gift_sent,
        bool_or(last_gift_clicked_date is not null) as is_gift_clicked,
        bool_or(last_unsubscribe_date is not null) as has_unsubscribe,
        bool_or(last_bounce_date is not null) as has_bounce
    from resolved
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
        customer_id, email_sends_last_90d, email_opens_last_90d, email_clicks_last_90d,
        case when campaigns_sent_90d > 0
            then {{ round_double('least(cast(campaigns_opened_90d as double) / campaigns_sent_90d, 1)', 4) }} end as email_open_rate,
        case when gift_campaigns_sent > 0
            then {{ round_double('least(cast(gift_campaigns_clicked as double) / gift_campaigns_sent, 1)', 4) }} end
            as gift_campaign_click_rate,
        has_unsubscribed_email, has_bounced_email
    from summed

)

select * from final
