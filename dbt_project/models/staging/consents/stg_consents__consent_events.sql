{{ config(enabled=provides_contract('stg_consents__consent_events', 'generated')) }}  -- a staging contract: README "Bring your own data"
-- One row per usable consent event. A customer and channel on hold (stg_consents__consent_holds: an opt-out that
-- could not be applied) read as opted out at every event, so no date of the history shows them opted in.
with

events as (

    select * from {{ ref('base_consents__consent_events') }}
    where rejection_reason is null

),

holds as (

    select customer_id, channel from {{ ref('stg_consents__consent_holds') }}

),

held_events as (

    select events.*
    from events
    {{ semi_join() }} holds on events.customer_id = holds.customer_id and events.channel = holds.channel

),

free as (

    select events.customer_id, events.channel, events.action = 'opt_in' as is_opted_in, events.event_at, events.source
    from events
    {{ anti_join() }} holds on events.customer_id = holds.customer_id and events.channel = holds.channel

),

held as (

    -- an opt-in and an opt-out at one instant both become opt-outs: keep one
    select customer_id, channel, false as is_opted_in, event_at, source
    from {{ first_row_per('held_events', 'customer_id, channel, event_at', 'action desc, source') }} as first_events

),

final as (

    select * from free
    union all
    select * from held

)

select * from final
