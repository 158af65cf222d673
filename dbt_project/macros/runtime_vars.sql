{#
    A var that only shapes SQL text and changes from run to run (`as_of_date` every day, `ml_cutoffs` and
    `ml_label_horizons` with every training; holdout.dbt_runner.RUNTIME_VARS lists them). dbt re-parses the whole
    project whenever a `--vars` value changes, so holdout passes these in the environment variable
    HOLDOUT_DBT_RUNTIME_VARS (a JSON object), read here only when a node is compiled to run (`execute`): parsing
    never depends on them, and a new value re-parses nothing. A var set by `--vars` or a unit test's override wins.
    Never use it for a value a ref, source, config or `enabled` depends on: while dbt parses, it is `default`.
#}
{% macro runtime_var(name, default=none) -%}
    {%- set value = var(name, none) -%}
    {%- if (value is none or value == '') and execute -%}
        {%- set value = fromjson(env_var('HOLDOUT_DBT_RUNTIME_VARS', '{}')).get(name) -%}
    {%- endif -%}
    {{ return(default if value is none or value == '' else value) }}
{%- endmacro %}
