with

events as (

    select * from {{ ref('base_consents__consent_events') }}
    where rejection_reason is null

),

final as (

    select
        customer_id,
        channel,
        action = 'opt_in' as is_opted_in,
        event_at,
        source
    from events

)

select * from final
