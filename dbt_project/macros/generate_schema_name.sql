{#
    Schemas are exactly the folder's `+schema` (staging, intermediate, marts), never
    `<target schema>_<custom>`: other tools (ML, campaigns, GX) read `marts.dim_customers` by name.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema | trim }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
