-- Consent state periods (SCD2) per customer and channel, from the event log before the as-of date.
-- Repeated events that do not change the state are folded into the period they continue.
with

events as (

    select * from {{ ref('stg_consents__consent_events') }}
    where event_at < {{ as_of_date() }}

),

customers as (

    select customer_id from {{ ref('int_customers_resolved') }}

),

one_per_instant as (

    -- an opt-in and an opt-out at the same instant: the opt-out wins (the conservative reading)
    select events.customer_id, events.channel, events.is_opted_in, events.event_at, events.source
    from events
    inner join customers on events.customer_id = customers.customer_id
    qualify row_number() over (
        partition by events.customer_id, events.channel, events.event_at
        order by case when events.is_opted_in then 1 else 0 end, events.source
    ) = 1

),

compared as (

    select
        *,
        lag(is_opted_in) over (partition by customer_id, channel order by event_at) as previous_is_opted_in
    from one_per_instant

),

changes as (

    select * from compared
    where previous_is_opted_in is null or previous_is_opted_in <> is_opted_in

),

final as (

    select
        customer_id,
        channel,
        is_opted_in,
        event_at as valid_from,
        lead(event_at) over (partition by customer_id, channel order by event_at) as valid_to,
        source
    from changes

)

select * from final
