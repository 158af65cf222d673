{#
    Engine-portable SQL (README "Running on Spark"). Each helper dispatches: default__ is the DuckDB SQL the project
    always had (so DuckDB builds are unchanged), spark__ the Spark SQL 4 equivalent. Models call these instead of
    DuckDB-only syntax; dbt's own cross-database macros (dbt.datediff, dbt.dateadd, ...) are used where they exist.
#}

{# The text type of a cast: varchar on DuckDB, string on Spark (Spark's varchar needs a length). #}
{% macro string_type() -%}
    {{ return(adapter.dispatch('string_type', 'holdout')()) }}
{%- endmacro %}
{% macro default__string_type() -%}varchar{%- endmacro %}
{% macro spark__string_type() -%}string{%- endmacro %}

{# `select {{ star_except('cte', ['a', 'b']) }} from cte`: every column of a CTE or relation alias but those. #}
{% macro star_except(alias, columns) -%}
    {{ return(adapter.dispatch('star_except', 'holdout')(alias, columns)) }}
{%- endmacro %}
{% macro default__star_except(alias, columns) -%}
    {{ alias }}.* exclude ({{ columns | join(', ') }})
{%- endmacro %}
{% macro spark__star_except(alias, columns) -%}
    {{ alias }}.* except ({{ columns | join(', ') }})
{%- endmacro %}

{#
    Replaces `qualify`: the rows of `relation` (a CTE name or a subquery in parentheses) that are first in their
    `partition_by` by `order_by`; the result has exactly the relation's columns.
    Usage:  select * from {{ first_row_per('candidates', 'email', 'updated_at desc nulls last, customer_id') }}
#}
{% macro first_row_per(relation, partition_by, order_by) -%}
    (
        select {{ star_except('ranked_rows', ['first_row_rank']) }}
        from (
            select *, row_number() over (partition by {{ partition_by }} order by {{ order_by }}) as first_row_rank
            from {{ relation }}
        ) as ranked_rows
        where first_row_rank = 1
    )
{%- endmacro %}

{# The join keyword that keeps left rows with (semi) or without (anti) a match, and never repeats them. #}
{% macro semi_join() -%}
    {{ return(adapter.dispatch('semi_join', 'holdout')()) }}
{%- endmacro %}
{% macro default__semi_join() -%}semi join{%- endmacro %}
{% macro spark__semi_join() -%}left semi join{%- endmacro %}

{% macro anti_join() -%}
    {{ return(adapter.dispatch('anti_join', 'holdout')()) }}
{%- endmacro %}
{% macro default__anti_join() -%}anti join{%- endmacro %}
{% macro spark__anti_join() -%}left anti join{%- endmacro %}

{# A CTE's `not materialized` hint (DuckDB inlines it instead of buffering it); Spark always inlines. #}
{% macro cte_not_materialized() -%}
    {{ return(adapter.dispatch('cte_not_materialized', 'holdout')()) }}
{%- endmacro %}
{% macro default__cte_not_materialized() -%}not materialized{%- endmacro %}
{% macro spark__cte_not_materialized() -%}{%- endmacro %}

{# True when the whole of `column` matches `pattern` (a SQL string literal). #}
{% macro regexp_whole_match(column, pattern) -%}
    {{ return(adapter.dispatch('regexp_whole_match', 'holdout')(column, pattern)) }}
{%- endmacro %}
{% macro default__regexp_whole_match(column, pattern) -%}
    regexp_full_match({{ column }}, {{ pattern }})
{%- endmacro %}
{% macro spark__regexp_whole_match(column, pattern) -%}
    ({{ column }} rlike concat('^(?:', {{ pattern }}, ')$'))
{%- endmacro %}

{# Every match of `pattern` in `column` replaced (DuckDB needs the 'g' flag; Spark always replaces all). #}
{% macro regexp_replace_all(column, pattern, replacement) -%}
    {{ return(adapter.dispatch('regexp_replace_all', 'holdout')(column, pattern, replacement)) }}
{%- endmacro %}
{% macro default__regexp_replace_all(column, pattern, replacement) -%}
    regexp_replace({{ column }}, {{ pattern }}, {{ replacement }}, 'g')
{%- endmacro %}
{% macro spark__regexp_replace_all(column, pattern, replacement) -%}
    regexp_replace({{ column }}, {{ pattern }}, {{ replacement }})
{%- endmacro %}

{# A list (array) literal of SQL expressions, e.g. array_literal(["'women'", "'men'"]). #}
{% macro array_literal(items) -%}
    {{ return(adapter.dispatch('array_literal', 'holdout')(items)) }}
{%- endmacro %}
{% macro default__array_literal(items) -%}
    [{{ items | join(', ') }}]
{%- endmacro %}
{% macro spark__array_literal(items) -%}
    array({{ items | join(', ') }})
{%- endmacro %}

{# 1-based position of `value` in the list `items`; null when absent (DuckDB's list_position). #}
{% macro array_position_of(items, value) -%}
    {{ return(adapter.dispatch('array_position_of', 'holdout')(items, value)) }}
{%- endmacro %}
{% macro default__array_position_of(items, value) -%}
    list_position({{ items }}, {{ value }})
{%- endmacro %}
{% macro spark__array_position_of(items, value) -%}
    nullif(array_position({{ items }}, {{ value }}), 0)
{%- endmacro %}

{#
    The `value` of the row with the greatest `keys` (a list of SQL expressions compared in order, like a tuple):
    DuckDB arg_max over a list, Spark max_by over a struct.
#}
{% macro arg_max_by(value, keys) -%}
    {{ return(adapter.dispatch('arg_max_by', 'holdout')(value, keys)) }}
{%- endmacro %}
{% macro default__arg_max_by(value, keys) -%}
    arg_max({{ value }}, [{{ keys | join(', ') }}])
{%- endmacro %}
{% macro spark__arg_max_by(value, keys) -%}
    max_by({{ value }}, struct({{ keys | join(', ') }}))
{%- endmacro %}

{# The current instant as a naive UTC timestamp (the ledgers' recorded_at). Spark's session time zone is UTC. #}
{% macro utc_now() -%}
    {{ return(adapter.dispatch('utc_now', 'holdout')()) }}
{%- endmacro %}
{% macro default__utc_now() -%}
    current_timestamp at time zone 'UTC'
{%- endmacro %}
{% macro spark__utc_now() -%}
    current_timestamp()
{%- endmacro %}

{# `value` (a Python/Jinja string, e.g. a var) as a SQL string literal, quoted the way the engine reads it. #}
{% macro text_literal(value) -%}
    {{ return(adapter.dispatch('text_literal', 'holdout')(value)) }}
{%- endmacro %}
{% macro default__text_literal(value) -%}
    '{{ value | replace("'", "''") }}'
{%- endmacro %}
{#- Spark reads backslashes in literals as escapes: double them, and escape the quote with one -#}
{% macro spark__text_literal(value) -%}
    '{{ value | replace("\\", "\\\\") | replace("'", "\\'") }}'
{%- endmacro %}
