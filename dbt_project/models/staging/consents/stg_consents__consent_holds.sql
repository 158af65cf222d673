-- Fail-safe consent: each customer and channel with an event that may be an opt-out and could not be applied: an
-- opt-out without a readable time, an action that cannot be read ("unsubscribe", "optout"), or either on an unknown
-- channel, which holds every channel. Only a readable opt-in that cannot be applied holds nothing. Until the source
-- row is fixed the customer counts as not consenting on that channel at every date: stg_consents__consent_events
-- reads the pair's events as opt-outs.
with

unapplied_opt_outs as (

    select customer_id, channel, rejection_reason
    from {{ ref('base_consents__consent_events') }}
    where action is distinct from 'opt_in'
        and rejection_reason in ('invalid_event_at', 'invalid_channel', 'invalid_action')

),

channels as (

    select channel from (values ('email'), ('sms'), ('push')) as known (channel)

),

final as (

    select
        unapplied_opt_outs.customer_id,
        channels.channel,
        min(unapplied_opt_outs.rejection_reason) as hold_reason,
        count(*) as opt_outs_count
    from unapplied_opt_outs
    inner join channels
        on unapplied_opt_outs.channel = channels.channel
        or unapplied_opt_outs.rejection_reason = 'invalid_channel'
    group by unapplied_opt_outs.customer_id, channels.channel

)

select * from final
