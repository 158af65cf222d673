{#
    Compile a segment condition list (the YAML `where:`) to a SQL boolean expression.
    A condition is {column, op, value}, or {any_of: [...]} / {all_of: [...]} nesting further conditions;
    the items of a list are and-ed. holdout.segments validates the library first; these macros check
    identifiers and operators again so a hand-written --vars can never inject SQL.
    Comparisons follow SQL: a null column never matches (use is_null to select missing values).
#}
{% macro segment_condition_sql(conditions, joiner='and') -%}
    {%- if conditions is none or conditions | length == 0 -%}
        {{ return('true') }}
    {%- endif -%}
    {%- set parts = [] -%}
    {%- for condition in conditions -%}
        {%- if condition is not mapping -%}
            {{ exceptions.raise_compiler_error("segment condition must be a mapping, got: " ~ condition) }}
        {%- elif 'any_of' in condition -%}
            {%- do parts.append(segment_condition_sql(condition['any_of'], 'or')) -%}
        {%- elif 'all_of' in condition -%}
            {%- do parts.append(segment_condition_sql(condition['all_of'], 'and')) -%}
        {%- else -%}
            {%- do parts.append(segment_predicate_sql(condition)) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return('(' ~ parts | join(' ' ~ joiner ~ ' ') ~ ')') }}
{%- endmacro %}

{% macro segment_predicate_sql(condition) -%}
    {%- set column = segment_identifier(condition['column']) -%}
    {%- set op = condition['op'] -%}
    {%- set value = condition.get('value') -%}
    {%- if op in ['=', '!=', '<', '<=', '>', '>='] -%}
        {%- set sql_op = '<>' if op == '!=' else op -%}
        {{ return(column ~ ' ' ~ sql_op ~ ' ' ~ segment_literal(value)) }}
    {%- elif op in ['in', 'not_in'] -%}
        {%- set items = [] -%}
        {%- for item in value -%}{%- do items.append(segment_literal(item)) -%}{%- endfor -%}
        {{ return(column ~ (' not in (' if op == 'not_in' else ' in (') ~ items | join(', ') ~ ')') }}
    {%- elif op == 'between' -%}
        {{ return(column ~ ' between ' ~ segment_literal(value[0]) ~ ' and ' ~ segment_literal(value[1])) }}
    {%- elif op == 'is_null' -%}
        {{ return(column ~ ' is null') }}
    {%- elif op == 'not_null' -%}
        {{ return(column ~ ' is not null') }}
    {%- elif op == 'is_true' -%}
        {{ return(column ~ ' = true') }}
    {%- elif op == 'is_false' -%}
        {{ return(column ~ ' = false') }}
    {%- else -%}
        {{ exceptions.raise_compiler_error("segment condition has an unknown op: " ~ op) }}
    {%- endif -%}
{%- endmacro %}

{# A YAML scalar as a SQL literal: strings single-quoted with quotes doubled; booleans before numbers. #}
{% macro segment_literal(value) -%}
    {%- if value is none -%}
        {{ return('null') }}
    {%- elif value is sameas true -%}
        {{ return('true') }}
    {%- elif value is sameas false -%}
        {{ return('false') }}
    {%- elif value is number -%}
        {{ return(value | string) }}
    {%- elif value is string -%}
        {{ return("'" ~ value | replace("'", "''") ~ "'") }}
    {%- else -%}
        {{ exceptions.raise_compiler_error("segment value must be a string, number or boolean, got: " ~ value) }}
    {%- endif -%}
{%- endmacro %}

{# A column or id usable as a bare SQL identifier (lowercase letters, digits, underscores), else an error. #}
{% macro segment_identifier(name) -%}
    {%- if name is not string or not modules.re.match('^[a-z_][a-z0-9_]*$', name) -%}
        {{ exceptions.raise_compiler_error("segment library: not a valid identifier: " ~ name) }}
    {%- endif -%}
    {{ return(name) }}
{%- endmacro %}

{# The level of a dimension for each customer: the first level whose conditions hold, else null. #}
{% macro segment_level_case(levels) -%}
    {%- set whens = [] -%}
    {%- for level in levels -%}
        {%- if level['where'] | length == 0 -%}
            {#- the `else: true` level (always last) -#}
            {%- do whens.append('else ' ~ segment_literal(level['level'])) -%}
        {%- else -%}
            {%- do whens.append('when ' ~ segment_condition_sql(level['where']) ~ ' then ' ~ segment_literal(level['level'])) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return('case ' ~ whens | join(' ') ~ ' end') }}
{%- endmacro %}
