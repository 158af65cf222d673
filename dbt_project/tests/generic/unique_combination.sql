{#
    Primary-key test for models whose grain is several columns (no dbt_utils here: the build runs offline).
    Usage:  data_tests: [{unique_combination: {arguments: {columns: [customer_id, model]}}}]
#}
{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as n_rows
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}

{% test not_null_combination(model, columns) %}
select *
from {{ model }}
where {% for c in columns %}{{ c }} is null{% if not loop.last %} or {% endif %}{% endfor %}
{% endtest %}
