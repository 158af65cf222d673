{#
    A stored count equals the rows of another model that carry the row's key (0 when none do),
    e.g. dim_segments.member_count = the segment's rows in fct_segment_memberships.
    Usage:  data_tests: [{equals_row_count: {arguments: {key: segment_id, to: ref('x'), field: segment_id}}}]
#}
{% test equals_row_count(model, column_name, key, to, field) %}
with counted as (

    select {{ field }} as key_value, count(*) as n_rows
    from {{ to }}
    group by {{ field }}

)

select m.{{ key }}, m.{{ column_name }} as stored_count, coalesce(c.n_rows, 0) as n_rows
from {{ model }} as m
left join counted as c on c.key_value = m.{{ key }}
where m.{{ column_name }} is distinct from coalesce(c.n_rows, 0)
{% endtest %}
