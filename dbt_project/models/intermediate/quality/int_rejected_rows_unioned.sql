-- Rows staging could not use (unparseable, invalid or duplicated), with the reason, from every source.
{%- set rejects = [
    ('base_crm__customers', 'crm', 'customers', 'customer_id'),
    ('base_crm__erasure_requests', 'crm', 'erasure_requests', 'customer_id'),
    ('base_ecommerce__products', 'ecommerce', 'products', 'product_id'),
    ('base_ecommerce__orders', 'ecommerce', 'orders', 'order_id'),
    ('base_ecommerce__order_lines', 'ecommerce', 'order_lines', 'order_line_id'),
    ('base_ecommerce__fx_rates', 'ecommerce', 'fx_rates', 'currency'),
    ('base_web__events', 'web', 'events', 'event_id'),
    ('base_email__events', 'email', 'events', 'event_id'),
    ('base_consents__consent_events', 'consents', 'events', "customer_id || '/' || coalesce(channel, '?')"),
    ('base_loyalty__members', 'loyalty', 'members', 'customer_id'),
    ('base_support__tickets', 'support', 'tickets', 'ticket_id'),
] %}
with

{% for model, source_name, entity, key in rejects %}
{{ model }} as (

    select
        '{{ source_name }}' as source_name,
        '{{ entity }}' as entity,
        cast({{ key }} as varchar) as record_key,
        rejection_reason,
        source_file
    from {{ ref(model) }}
    where rejection_reason is not null

),

{% endfor %}
final as (

    {% for model, _, _, _ in rejects %}
    select * from {{ model }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select * from final
