{#
    Engine-portable SQL for the intermediate, marts and ml models that macros/cross_db.sql does not cover. Each
    macro dispatches: `default__` renders the DuckDB SQL the models used before (DuckDB is the default engine and
    its builds must not change), `spark__` Spark SQL (4.x) computing the same values.
#}

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

{#
    A difference of dates (dbt.datediff) typed bigint on every engine: DuckDB's date_diff answers bigint, Spark's
    datediff int, and the marts' contracts declare bigint.
#}
{% macro datediff_bigint(expression) -%}
    {{ return(adapter.dispatch('datediff_bigint')(expression)) }}
{%- endmacro %}

{% macro default__datediff_bigint(expression) -%}
    {{ return(expression) }}
{%- endmacro %}

{% macro spark__datediff_bigint(expression) -%}
    {{ return('cast(' ~ expression ~ ' as bigint)') }}
{%- endmacro %}

{#
    round() of a double to `digits` decimals, as DuckDB does it: scale, round half away from zero, scale back.
    Spark's round(double, d) rounds the exact binary value instead (1.005 is 1.00499999... there, so 1.00), which
    moved order amounts by a cent against DuckDB; rounding the scaled double is DuckDB's answer on Spark too.
#}
{% macro round_double(expression, digits) -%}
    {{ return(adapter.dispatch('round_double')(expression, digits)) }}
{%- endmacro %}

{% macro default__round_double(expression, digits) -%}
    {{ return('round(' ~ expression ~ ', ' ~ digits ~ ')') }}
{%- endmacro %}

{% macro spark__round_double(expression, digits) -%}
    {{ return('(round((' ~ expression ~ ') * 1e' ~ digits ~ ') / 1e' ~ digits ~ ')') }}
{%- endmacro %}

{# numerator / denominator where the numerator is a decimal: DuckDB divides decimals as doubles, Spark exactly. #}
{% macro double_quotient(numerator, denominator) -%}
    {{ return(adapter.dispatch('double_quotient')(numerator, denominator)) }}
{%- endmacro %}

{% macro default__double_quotient(numerator, denominator) -%}
    {{ return(numerator ~ ' / ' ~ denominator) }}
{%- endmacro %}

{% macro spark__double_quotient(numerator, denominator) -%}
    {{ return('cast(' ~ numerator ~ ' as double) / ' ~ denominator) }}
{%- endmacro %}
