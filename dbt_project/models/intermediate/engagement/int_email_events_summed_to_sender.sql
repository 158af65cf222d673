{%- set days = ref('int_email_events_summed_to_day') -%}
{%- set sender_key = "case when customer_id is not null then 'customer:' || customer_id
    when email is not null then 'email:' || email end" -%}
{{ derived_incremental_config(['stg_email__events'], dirty_key='sender_key') }}
-- a daily build recomputes only the senders of the changed days (macros/incremental_derived.sql)
-- The e-mail measures that span all history, before the as-of date, per sender (the events' own customer key, else
-- their address; unresolved, as the per-day sums): one row for its campaigns that are not gifts (campaign_code
-- null) and one per gift campaign (code contains "gift"). Kept as last dates (a flag is "has a date") so that a daily
-- build knows which senders a changed day can alter (keys_of_changed_days); the customer summary adds the last 90
-- days from the per-day sums. Senders without a key never resolve to a customer and are left out.
{%- set mode = prepare_dirty_keys(
    inputs=per_day_files_input(days, 'email/events'),
    fingerprint=upstream_fingerprint(days),
    dirty=keys_of_changed_days(days, sender_key, ref('base_email__events'), 'event_id', [
        'last_event_date', 'last_gift_sent_date', 'last_gift_clicked_date', 'last_unsubscribe_date',
        'last_bounce_date']),
    removable=['as_of_date'],
) %}
with

days as (

    select
        *,
        {{ sender_key }} as sender_key,
        coalesce(lower(campaign_code) like '%gift%', false) as is_gift_campaign
    from {{ days }}
    where event_date < {{ as_of_date() }} and {{ dirty_keys_only(sender_key, mode) }}

),

final as (

    select
        sender_key,
        customer_id,
        case when customer_id is null then email end as email,  -- a customer key resolves without the address
        case when is_gift_campaign then campaign_code end as campaign_code,
        max(event_date) as last_event_date,
        max(case when is_gift_campaign and sends > 0 then event_date end) as last_gift_sent_date,
        max(case when is_gift_campaign and clicks > 0 then event_date end) as last_gift_clicked_date,
        max(case when unsubscribes > 0 then event_date end) as last_unsubscribe_date,
        max(case when bounces > 0 then event_date end) as last_bounce_date
    from days
    where sender_key is not null
    group by 1, 2, 3, 4

)

select * from final
