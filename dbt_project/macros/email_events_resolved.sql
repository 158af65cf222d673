{#
    The customers that e-mail events (the stg_email__events contract) belong to: an event that carries the sender's
    own customer key (`customer_id`, e.g. an ESP or loyalty system keyed by it) resolves by that key, any other by its
    normalized address through the identity graph. The two kinds are joined separately and unioned: one join on
    `customer_id = ... or email = ...` could not be a hash join, and on 18M events that is far too slow.
    `events` names a CTE with the columns customer_id and email; the result has the resolved customer_id followed by
    the CTE's other columns. Unresolved events are left out (int_orphaned_rows_found counts them).
    Usage:  resolved as ({{ email_events_resolved('events') }})
#}
{% macro email_events_resolved(events) %}
    select customers.customer_id, {{ star_except(events, ['customer_id', 'email']) }}
    from {{ events }}
    inner join {{ ref('int_customers_resolved') }} as customers on {{ events }}.customer_id = customers.customer_id
    union all
    select identities.customer_id, {{ star_except(events, ['customer_id', 'email']) }}
    from {{ events }}
    inner join {{ ref('int_customer_identities') }} as identities
        on {{ events }}.email = identities.identity_value and identities.identity_type = 'email'
    where {{ events }}.customer_id is null
{% endmacro %}
