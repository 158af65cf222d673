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
        event_type,
        campaign_code,
        event_at
    from events

)

select * from final
