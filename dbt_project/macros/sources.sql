{#
    Bring your own data (README "Bring your own data"; holdout/sources.py passes the vars from HOLDOUT_HOME/sources.yml).
#}

{#
    True when `provider`'s staging model provides the staging contract `contract`. Every model named like a contract
    enables itself with it: `{{ config(enabled=provides_contract('stg_crm__customers', 'generated')) }}` in the
    generated retailer's, `provides_contract('stg_crm__customers', 'mystore')` in yours
    (models/staging/mystore/stg_crm__customers.sql). Exactly one is enabled, so every `ref` downstream is unchanged.
#}
{% macro provides_contract(contract, provider) -%}
    {{ return(var('contracts', {}).get(contract, 'generated') == provider) }}
{%- endmacro %}

{#
    A landing-zone source, or an empty relation of its declared columns (all text, plus the reader's `filename` and
    `file_row_number`) when its folder has no part files (the var `absent_sources`, "<system>/<entity>"). Which
    entities may be absent is decided in holdout/sources.py; dbt only builds what it is given as empty.
#}
{% macro raw_source(source_name, table_name) -%}
    {%- set relation = source(source_name, table_name) -%}
    {#- a unit test's graph has no sources: its given rows replace the source anyway -#}
    {%- if (source_name ~ '/' ~ table_name) not in var('absent_sources', []) or not execute
        or graph.get('sources') is none -%}
        {{ return(relation) }}
    {%- endif -%}
    {%- set nodes = graph.sources.values() | selectattr('source_name', 'equalto', source_name)
        | selectattr('name', 'equalto', table_name) | list -%}
    {%- set columns = nodes[0].columns.keys() | list -%}
    {%- if not columns -%}
        {{ exceptions.raise_compiler_error('source ' ~ source_name ~ '.' ~ table_name ~ ' declares no columns') }}
    {%- endif -%}
    {%- set typed = [] -%}
    {%- for column in columns -%}
        {%- do typed.append('cast(null as varchar) as ' ~ adapter.quote(column)) -%}
    {%- endfor -%}
    {{ return('(select ' ~ typed | join(', ') ~ ', cast(null as varchar) as filename, '
        ~ 'cast(null as bigint) as file_row_number where false)') }}
{%- endmacro %}

{# The customer id rule (var customer_id_pattern): true when `column` is a usable customer id. #}
{% macro is_valid_customer_id(column) -%}
    coalesce(regexp_full_match({{ column }}, '{{ var("customer_id_pattern") | replace("'", "''") }}'), false)
{%- endmacro %}

{#
    The generated retailer's base models (one row per raw row, with `rejection_reason`): model, source, entity and
    the column that identifies a row in the quarantine. The quarantine and its counts read this one list.
#}
{% macro base_models() -%}
    {%- set generated = [
        ('base_crm__customers', 'crm', 'customers', 'customer_id'),
        ('base_crm__erasure_requests', 'crm', 'erasure_requests', 'customer_id'),
        ('base_ecommerce__products', 'ecommerce', 'products', 'product_id'),
        ('base_ecommerce__orders', 'ecommerce', 'orders', 'order_id'),
        ('base_ecommerce__order_lines', 'ecommerce', 'order_lines', 'order_line_id'),
        ('base_ecommerce__fx_rates', 'ecommerce', 'fx_rates', 'currency'),
        ('base_web__events', 'web', 'events', 'event_id'),
        ('base_email__events', 'email', 'events', 'event_id'),
        ('base_consents__consent_events', 'consents', 'events', "customer_id || '/' || coalesce(channel, '?')"),
        ('base_loyalty__members', 'loyalty', 'members', 'customer_id'),
        ('base_support__tickets', 'support', 'tickets', 'ticket_id'),
    ] -%}
    {#- a provider's own base models, counted when it provides a contract (names are static: dbt sees the refs) -#}
    {%- set providers = {
        'completejourney': [
            ('base_completejourney__transactions', 'completejourney', 'transactions', "order_id || '-' || product_id"),
            ('base_completejourney__products', 'completejourney', 'products', 'product_id'),
        ],
    } -%}
    {%- for provider in var('contracts', {}).values() | unique if provider in providers -%}
        {%- do generated.extend(providers[provider]) -%}
    {%- endfor -%}
    {{ return(generated) }}
{%- endmacro %}
