{#
    The segment library as holdout.segments.dbt_vars() hands it over in the var `segment_library`:
      {segments: [{id, name, description, kind, dimension, level, definition, where}],
       cross_products: [{id, description, dimensions: [...], levels: {dimension: [level ids]}}]}
    Cross-products travel unexpanded (the var stays ~30 KB on the command line); SQL expands them.
#}
{% macro segment_library() -%}
    {%- set library = var('segment_library', none) -%}
    {%- if library is string -%}
        {%- set library = fromjson(library) -%}
    {%- endif -%}
    {%- if library is none or library is not mapping -%}
        {%- if execute -%}
            {{ exceptions.raise_compiler_error("var 'segment_library' is required: run dbt through holdout.dbt_runner, which passes holdout.segments.dbt_vars(settings)") }}
        {%- endif -%}
        {{ return({'segments': [], 'cross_products': []}) }}
    {%- endif -%}
    {{ return({'segments': library.get('segments') or [], 'cross_products': library.get('cross_products') or []}) }}
{%- endmacro %}

{# Dimensions in library order: [{id, levels: [segment, ...]}], levels in the order they are tried. #}
{% macro segment_dimensions(library) -%}
    {%- set dimensions = [] -%}
    {%- set by_id = {} -%}
    {%- for segment in library.segments if segment.kind == 'dimension' -%}
        {%- if segment.dimension not in by_id -%}
            {%- do by_id.update({segment.dimension: {'id': segment.dimension, 'levels': []}}) -%}
            {%- do dimensions.append(by_id[segment.dimension]) -%}
        {%- endif -%}
        {%- do by_id[segment.dimension]['levels'].append(segment) -%}
    {%- endfor -%}
    {{ return(dimensions) }}
{%- endmacro %}

{# Segments evaluated one by one (kinds custom and predictive). #}
{% macro segment_flag_segments(library) -%}
    {{ return(library.segments | rejectattr('kind', 'equalto', 'dimension') | list) }}
{%- endmacro %}

{# The column holding a customer's level of a dimension in the per-customer level table. #}
{% macro segment_level_column(dimension_id) -%}
    {{ return(segment_identifier('level__' ~ dimension_id)) }}
{%- endmacro %}

{# The column holding a custom/predictive segment's boolean flag. #}
{% macro segment_flag_column(segment_id) -%}
    {{ return(segment_identifier('flag__' ~ segment_id)) }}
{%- endmacro %}
