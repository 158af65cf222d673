-- Web events with the customer resolved through the cookie's logins (anonymous when never logged in).
with

events as (

    select * from {{ ref('stg_web__events') }}

),

cookies as (

    select * from {{ ref('int_customer_identities') }}
    where identity_type = 'cookie'

),

final as (

    select
        events.event_id,
        events.cookie_id,
        cookies.customer_id,
        events.event_type,
        events.event_at,
        events.product_id,
        events.category,
        events.department,
        events.device
    from events
    left join cookies on events.cookie_id = cookies.identity_value

)

select * from final
