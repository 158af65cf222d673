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

free as (

    select events.customer_id, events.channel, events.action = 'opt_in' as is_opted_in, events.event_at, events.source
    from events
    anti join holds on events.customer_id = holds.customer_id and events.channel = holds.channel

),

held as (

    -- an opt-in and an opt-out at one instant both become opt-outs: keep one
    select events.customer_id, events.channel, false as is_opted_in, events.event_at, events.source
    from events
    semi join holds on events.customer_id = holds.customer_id and events.channel = holds.channel
    qualify row_number() over (
        partition by events.customer_id, events.channel, events.event_at order by events.action desc, events.source
    ) = 1

),

final as (

    select * from free
    union all
    select * from held

)

select * from final
