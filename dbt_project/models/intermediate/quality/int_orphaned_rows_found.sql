-- Valid rows that point at nothing usable (unknown or erased customer, unknown order or product).
-- They are kept out of the profile; this model makes them countable.
with

customers as (select customer_id, is_erased from {{ ref('stg_crm__customers') }}),
products as (select product_id from {{ ref('stg_ecommerce__products') }}),
orders as (select order_id, customer_id from {{ ref('stg_ecommerce__orders') }}),
order_lines as (select order_line_id, order_id, product_id from {{ ref('stg_ecommerce__order_lines') }}),
consents as (select customer_id, channel from {{ ref('stg_consents__consent_events') }}),
members as (select customer_id from {{ ref('stg_loyalty__members') }}),
tickets as (select ticket_id, customer_id from {{ ref('stg_support__tickets') }}),
-- an e-mail event resolves by the sender's customer key when it has one, else by address (email_events_resolved)
emails as (select event_id, email from {{ ref('stg_email__events') }} where customer_id is null),
keyed_emails as (select event_id, customer_id from {{ ref('stg_email__events') }} where customer_id is not null),
identities as (select identity_value from {{ ref('int_customer_identities') }} where identity_type = 'email'),

by_customer as (

    {%- set customer_keyed = [
        ('ecommerce', 'orders', 'orders', 'order_id'),
        ('consents', 'events', 'consents', "customer_id || '/' || channel"),
        ('loyalty', 'members', 'members', 'customer_id'),
        ('support', 'tickets', 'tickets', 'ticket_id'),
        ('email', 'events', 'keyed_emails', 'event_id'),
    ] %}
    {%- for source_name, entity, cte, key in customer_keyed %}
    select
        '{{ source_name }}' as source_name,
        '{{ entity }}' as entity,
        cast({{ cte }}.{{ key }} as {{ string_type() }}) as record_key,
        case when customers.customer_id is null then 'unknown_customer' else 'erased_customer' end
            as rejection_reason
    from {{ cte }}
    left join customers on {{ cte }}.customer_id = customers.customer_id
    where customers.customer_id is null or customers.is_erased
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

lines as (

    select
        'ecommerce' as source_name,
        'order_lines' as entity,
        order_lines.order_line_id as record_key,
        case when orders.order_id is null then 'unknown_order' else 'unknown_product' end as rejection_reason
    from order_lines
    left join orders on order_lines.order_id = orders.order_id
    left join products on order_lines.product_id = products.product_id
    -- a line without a product is an order's amount; a product id the catalogue lacks is orphaned (if there is one)
    where orders.order_id is null
        or (products.product_id is null and order_lines.product_id is not null and exists (select 1 from products))

),

unmatched_emails as (

    select 'email' as source_name, 'events' as entity, emails.event_id as record_key,
        'unmatched_email' as rejection_reason
    from emails
    left join identities on emails.email = identities.identity_value
    where identities.identity_value is null

),

final as (

    select *, cast(null as {{ string_type() }}) as source_file from by_customer
    union all
    select *, cast(null as {{ string_type() }}) as source_file from lines
    union all
    select *, cast(null as {{ string_type() }}) as source_file from unmatched_emails

)

select * from final
