{#
    The model has at least one row: a build that publishes an empty mart fails instead.
    Usage:  data_tests: [not_empty]   (model level)
#}
{% test not_empty(model) %}
select 'no rows' as failure
where not exists (select 1 from {{ model }})
{% endtest %}
