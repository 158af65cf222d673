{#
    The segment library as holdout.segments compiles it into the var `segment_library`:
      {columns: [{name, sql}], crosses: [sql]}
    Each `sql` is an expression yielding a segment id or null. `columns` are computed per customer over
    dim_customers (a dimension's level, a custom/predictive segment); `crosses` over those columns.
    holdout.segments is the only compiler: values are literals escaped by holdout.segments.sql_literal and
    columns come from the dim_customers contract, quoted as identifiers.
#}
{% macro segment_library() -%}
    {%- set library = var('segment_library', none) -%}
    {%- if library is string -%}
        {%- set library = fromjson(library) -%}
    {%- endif -%}
    {%- if library is none or library is not mapping -%}
        {%- if execute -%}
            {{ exceptions.raise_compiler_error("var 'segment_library' is required: run dbt through holdout.dbt_runner, which passes holdout.segments.build_inputs(settings)") }}
        {%- endif -%}
        {{ return({'columns': [], 'crosses': []}) }}
    {%- endif -%}
    {%- set columns = [] -%}
    {%- for column in library.get('columns') or [] -%}
        {%- do columns.append({'name': column.name, 'sql': segment_expression(column.sql)}) -%}
    {%- endfor -%}
    {%- set crosses = [] -%}
    {%- for cross in library.get('crosses') or [] -%}
        {%- do crosses.append(segment_expression(cross)) -%}
    {%- endfor -%}
    {{ return({'columns': columns, 'crosses': crosses}) }}
{%- endmacro %}

{#
    A compiled expression in this engine's dialect. holdout.segments quotes columns the standard way, "name" with
    name in [a-z_][a-z0-9_]*, and writes values as '...' literals ('' inside). Spark reads "..." as a string, so
    there each quoted name outside a literal becomes `name`, and a backslash inside a literal is doubled (Spark
    reads it as an escape); nothing else changes.
#}
{% macro segment_expression(sql) -%}
    {{ return(adapter.dispatch('segment_expression')(sql)) }}
{%- endmacro %}

{% macro default__segment_expression(sql) -%}
    {{ return(sql) }}
{%- endmacro %}

{% macro spark__segment_expression(sql) -%}
    {#- split keeps the matched literals and quoted names at the odd positions -#}
    {%- set parts = modules.re.split("('(?:[^']|'')*'|\"[a-z_][a-z0-9_]*\")", sql) -%}
    {%- set out = [] -%}
    {%- for part in parts -%}
        {%- if loop.index0 % 2 == 1 and part.startswith('"') -%}
            {%- do out.append('`' ~ part[1:-1] ~ '`') -%}
        {%- elif loop.index0 % 2 == 1 -%}
            {#- a literal: Spark reads a backslash as an escape, DuckDB as itself -#}
            {%- do out.append(part | replace('\\', '\\\\')) -%}
        {%- elif '"' in part -%}
            {#- Spark would read any other "..." as a string, true for every customer: refuse instead -#}
            {{ exceptions.raise_compiler_error('segment expression: a quoted name Spark cannot read in: ' ~ sql) }}
        {%- else -%}
            {%- do out.append(part) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(out | join('')) }}
{%- endmacro %}

{# A per-customer column name of the library, quoted; anything but lowercase letters, digits, _ is refused. #}
{% macro segment_column(name) -%}
    {%- if name is not string or not modules.re.match('^[a-z_][a-z0-9_]*$', name) -%}
        {{ exceptions.raise_compiler_error("segment library: not a valid column name: " ~ name) }}
    {%- endif -%}
    {{ return(adapter.quote(name)) }}
{%- endmacro %}

{# Every expression whose non-null value is a membership: the per-customer columns, then the crosses. #}
{% macro segment_membership_expressions(library) -%}
    {%- set expressions = [] -%}
    {%- for column in library.columns -%}
        {%- do expressions.append(segment_column(column.name)) -%}
    {%- endfor -%}
    {{ return(expressions + library.crosses) }}
{%- endmacro %}
