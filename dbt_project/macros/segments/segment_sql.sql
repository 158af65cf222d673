{#
    SQL builders shared by the segment models.
#}

{# `select ... union all select ...` of the given select statements, or an empty typed relation. #}
{% macro segment_union_all(selects, empty_columns) -%}
    {%- if selects | length == 0 -%}
        select {{ empty_columns | join(', ') }} where 1 = 0
    {%- else -%}
        {{ selects | join('\n        union all\n        ') }}
    {%- endif -%}
{%- endmacro %}

{# One select per dimension / cross-product / flagged segment over the per-customer level table. #}
{% macro segment_membership_selects(library, relation) -%}
    {%- set selects = [] -%}
    {%- for dimension in segment_dimensions(library) -%}
        {%- set column = segment_level_column(dimension.id) -%}
        {%- do selects.append(
            'select customer_id, ' ~ dbt.concat([segment_literal(dimension.id ~ '__'), column])
            ~ ' as segment_id from ' ~ relation ~ ' where ' ~ column ~ ' is not null'
        ) -%}
    {%- endfor -%}
    {%- for cross in library.cross_products -%}
        {%- set parts = [segment_literal('x_' ~ cross.id)] -%}
        {%- set filters = [] -%}
        {%- for dimension_id in cross.dimensions -%}
            {%- set column = segment_level_column(dimension_id) -%}
            {%- do parts.extend([segment_literal('__'), column]) -%}
            {%- set levels = [] -%}
            {%- for level in cross.levels[dimension_id] -%}{%- do levels.append(segment_literal(level)) -%}{%- endfor -%}
            {%- do filters.append(column ~ ' in (' ~ levels | join(', ') ~ ')') -%}
        {%- endfor -%}
        {%- do selects.append(
            'select customer_id, ' ~ dbt.concat(parts) ~ ' as segment_id from ' ~ relation
            ~ ' where ' ~ filters | join(' and ')
        ) -%}
    {%- endfor -%}
    {%- for segment in segment_flag_segments(library) -%}
        {%- do selects.append(
            'select customer_id, ' ~ segment_literal(segment.id) ~ ' as segment_id from ' ~ relation
            ~ ' where ' ~ segment_flag_column(segment.id)
        ) -%}
    {%- endfor -%}
    {{ return(selects) }}
{%- endmacro %}

{#
    `materialized` for a CTE read by many union branches, where the engine supports the hint (DuckDB,
    Postgres): computes the per-customer levels once instead of once per branch.
#}
{% macro segment_materialized_cte() -%}
    {{ return(adapter.dispatch('segment_materialized_cte')()) }}
{%- endmacro %}

{% macro default__segment_materialized_cte() -%}
    {{ return('') }}
{%- endmacro %}

{% macro duckdb__segment_materialized_cte() -%}
    {{ return('materialized') }}
{%- endmacro %}

{% macro postgres__segment_materialized_cte() -%}
    {{ return('materialized') }}
{%- endmacro %}
