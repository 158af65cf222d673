{{ config(enabled=provides_contract('stg_email__events', 'generated')) }}  -- a staging contract: README "Bring your own data"
with

events as (

    select * from {{ ref('base_email__events') }}
    where rejection_reason is null

),

final as (

    select
        event_id,
        email,
        cast(null as {{ string_type() }}) as customer_id,  -- the ESP keys its events by address only
        event_type,
        campaign_code,
        event_at
    from events

)

select * from final
