{#
    Every row carries the as-of date of this build (`as_of_date()`): one profile date, never a mix.
    Usage:  data_tests: [equals_as_of_date]   (on a date column)
#}
{% test equals_as_of_date(model, column_name) %}
select {{ column_name }}, count(*) as n_rows
from {{ model }}
where {{ column_name }} is distinct from {{ as_of_date() }}
group by {{ column_name }}
{% endtest %}
