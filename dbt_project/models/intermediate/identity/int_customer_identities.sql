-- Identity graph: every identifier (normalized e-mail, web cookie) that resolves to a customer.
-- An e-mail shared by several CRM records belongs to the most recently updated one; a cookie used by
-- several customers belongs to the one who logged in on it last.
with

customers as (

    select * from {{ ref('int_customers_resolved') }}

),

logins as (

    select * from {{ ref('stg_web__events') }}
    where event_type = 'login' and customer_id is not null

),

emails as (

    select
        'email' as identity_type,
        email as identity_value,
        customer_id,
        cast(updated_at as timestamp) as first_seen_at,
        cast(updated_at as timestamp) as last_seen_at
    from customers
    where email is not null
    qualify row_number() over (partition by email order by updated_at desc nulls last, customer_id) = 1

),

cookie_logins as (

    select
        logins.cookie_id,
        logins.customer_id,
        min(logins.event_at) as first_seen_at,
        max(logins.event_at) as last_seen_at
    from logins
    inner join customers on logins.customer_id = customers.customer_id
    group by logins.cookie_id, logins.customer_id

),

cookies as (

    select
        'cookie' as identity_type,
        cookie_id as identity_value,
        customer_id,
        first_seen_at,
        last_seen_at
    from cookie_logins
    qualify row_number() over (partition by cookie_id order by last_seen_at desc, customer_id) = 1

),

unioned as (

    select * from emails
    union all
    select * from cookies

),

final as (

    select
        identity_type || ':' || identity_value as identity_key,
        *
    from unioned

)

select * from final
