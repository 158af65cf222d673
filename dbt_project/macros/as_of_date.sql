{#
    The warehouse's "today" as a SQL date literal. Every recency (days since, last N days, lifecycle)
    is measured against it, never against current_date, so a rebuild on the same landing zone is
    reproducible and a past as-of date gives a point-in-time profile.

    The value: `runtime_var('as_of_date')` (macros/runtime_vars.sql): the var when `--vars` or a unit test sets it,
    else what holdout.dbt_runner passes in the environment, read only when a node is compiled to run, so a new
    date re-parses nothing (docs/ARCHITECTURE.md "The as-of date").
#}
{% macro as_of_date_value() -%}
    {%- set value = runtime_var('as_of_date') -%}
    {{ return(none if value is none else value | string) }}
{%- endmacro %}

{% macro as_of_date() -%}
    {%- set value = as_of_date_value() -%}
    {%- if value is none -%}
        {%- if execute -%}
            {{ exceptions.raise_compiler_error("the as-of date (YYYY-MM-DD) is required: run dbt through holdout.dbt_runner or pass --vars '{as_of_date: 2025-01-01}'") }}
        {%- endif -%}
        cast('1970-01-01' as date)
    {%- else -%}
        cast('{{ value }}' as date)
    {%- endif -%}
{%- endmacro %}

{#
    The date `days` days before the as-of date, as a constant: a filter `column >= as_of_date_minus(n)` lets DuckDB
    skip the row groups of a table ordered by date that end before it (dbt.dateadd's timestamp arithmetic does not).
#}
{% macro as_of_date_minus(days) -%}
    {%- set value = as_of_date_value() -%}
    {%- if value is none -%}
        {{ as_of_date() }}
    {%- else -%}
        cast('{{ modules.datetime.date.fromisoformat(value | string) - modules.datetime.timedelta(days=days) }}' as date)
    {%- endif -%}
{%- endmacro %}

{# Days from `column` (a date or timestamp) to the as-of date. #}
{% macro days_before_as_of(column) -%}
    {{ dbt.datediff(column, as_of_date(), 'day') }}
{%- endmacro %}

{# True when `column` falls in the `days` days before the as-of date (the as-of day itself excluded). #}
{% macro within_days_before_as_of(column, days) -%}
    ({{ column }} >= {{ dbt.dateadd('day', -days, as_of_date()) }} and {{ column }} < {{ as_of_date() }})
{%- endmacro %}
