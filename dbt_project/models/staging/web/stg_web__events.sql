{{ config(enabled=provides_contract('stg_web__events', 'generated')) }}  -- a staging contract: README "Bring your own data"
with

events as (

    select * from {{ ref('base_web__events') }}
    where rejection_reason is null

),

final as (

    select
        event_id,
        cookie_id,
        -- the customer is only known on login events; int_customer_identities gives each cookie its owner
        case when event_type = 'login' then customer_id end as customer_id,
        event_type,
        event_at,
        product_id,
        category,
        department,
        device
    from events

)

select * from final
