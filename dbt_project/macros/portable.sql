{#
    Engine-portable SQL for the intermediate, marts and ml models. Each macro dispatches: `default__` renders
    exactly the DuckDB SQL the models used before (DuckDB is the default engine, and its builds must not change),
    `spark__` the Spark SQL (4.x) that computes the same values.
#}

{# The text type of casts: DuckDB's `varchar`; Spark's `varchar` needs a length, its unbounded text is `string`. #}
{% macro text_type() -%}
    {{ return(adapter.dispatch('text_type')()) }}
{%- endmacro %}

{% macro default__text_type() -%}
    {{ return('varchar') }}
{%- endmacro %}

{% macro spark__text_type() -%}
    {{ return('string') }}
{%- endmacro %}

{# `prefix*` without `columns` (e.g. star_except(['is_scoring']) or star_except(['a'], 'orders.')). #}
{% macro star_except(columns, prefix='') -%}
    {{ return(adapter.dispatch('star_except')(columns, prefix)) }}
{%- endmacro %}

{% macro default__star_except(columns, prefix) -%}
    {{ return(prefix ~ '* exclude (' ~ columns | join(', ') ~ ')') }}
{%- endmacro %}

{% macro spark__star_except(columns, prefix) -%}
    {{ return(prefix ~ '* except (' ~ columns | join(', ') ~ ')') }}
{%- endmacro %}

{#
    The `value` of the row with the largest `keys` (one SQL expression, or a list compared left to right).
    DuckDB: arg_max over a list; Spark: max_by over a struct (structs compare field by field).
#}
{% macro arg_max_by(value, keys) -%}
    {{ return(adapter.dispatch('arg_max_by')(value, keys)) }}
{%- endmacro %}

{% macro default__arg_max_by(value, keys) -%}
    {%- if keys is string -%}
        {{ return('arg_max(' ~ value ~ ', ' ~ keys ~ ')') }}
    {%- endif -%}
    {{ return('arg_max(' ~ value ~ ', [' ~ keys | join(', ') ~ '])') }}
{%- endmacro %}

{% macro spark__arg_max_by(value, keys) -%}
    {%- if keys is string -%}
        {{ return('max_by(' ~ value ~ ', ' ~ keys ~ ')') }}
    {%- endif -%}
    {{ return('max_by(' ~ value ~ ', struct(' ~ keys | join(', ') ~ '))') }}
{%- endmacro %}

{#
    1-based position of `expression` in `values` (a list of strings), null when absent.
    Spark's array_position answers 0 when absent, hence the nullif.
#}
{% macro list_position_of(values, expression) -%}
    {{ return(adapter.dispatch('list_position_of')(values, expression)) }}
{%- endmacro %}

{% macro default__list_position_of(values, expression) -%}
    {{ return('list_position(' ~ values ~ ', ' ~ expression ~ ')') }}
{%- endmacro %}

{% macro spark__list_position_of(values, expression) -%}
    {%- set literals = [] -%}
    {%- for value in values -%}
        {%- do literals.append("'" ~ value | replace("'", "''") ~ "'") -%}
    {%- endfor -%}
    {{ return('nullif(array_position(array(' ~ literals | join(', ') ~ '), ' ~ expression ~ '), 0)') }}
{%- endmacro %}

{#
    One row per month start from `start` to `stop` (timestamps, both included), as a select-list expression
    that multiplies the rows. Empty when start > stop: DuckDB's generate_series is; Spark's sequence would fail,
    so its sequence stops at the later of the two and the filter drops the start when it is past `stop`.
#}
{% macro month_starts(start, stop) -%}
    {{ return(adapter.dispatch('month_starts')(start, stop)) }}
{%- endmacro %}

{% macro default__month_starts(start, stop) -%}
    unnest(generate_series(
            {{ start }},
            {{ stop }},
            interval 1 month))
{%- endmacro %}

{% macro spark__month_starts(start, stop) -%}
    explode(filter(
            sequence({{ start }}, greatest({{ start }}, {{ stop }}), interval 1 month),
            month_start -> month_start <= {{ stop }}))
{%- endmacro %}
