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
    DuckDB reads the files through the source's `external_location` (read_csv/read_parquet with filename and
    file_row_number); Spark reads the external table spark_external_tables() declared, with the same two columns.
#}
{% macro raw_source(source_name, table_name) -%}
    {%- set relation = source(source_name, table_name) -%}
    {#- a unit test's graph has no sources: its given rows replace the source anyway -#}
    {%- if not execute or graph.get('sources') is none -%}
        {{ return(relation) }}
    {%- endif -%}
    {%- set node = graph.sources.values() | selectattr('source_name', 'equalto', source_name)
        | selectattr('name', 'equalto', table_name) | first -%}
    {%- if (source_name ~ '/' ~ table_name) not in var('absent_sources', []) -%}
        {{ return(adapter.dispatch('raw_source_relation', 'holdout')(relation, node)) }}
    {%- endif -%}
    {%- set columns = node.columns.keys() | list -%}
    {%- if not columns -%}
        {{ exceptions.raise_compiler_error('source ' ~ source_name ~ '.' ~ table_name ~ ' declares no columns') }}
    {%- endif -%}
    {%- set typed = [] -%}
    {%- for column in columns -%}
        {%- do typed.append('cast(null as ' ~ string_type() ~ ') as ' ~ adapter.quote(column)) -%}
    {%- endfor -%}
    {{ return('(select ' ~ typed | join(', ') ~ ', cast(null as ' ~ string_type() ~ ') as filename, '
        ~ 'cast(null as bigint) as file_row_number where false)') }}
{%- endmacro %}

{% macro default__raw_source_relation(relation, node) -%}
    {{ return(relation) }}
{%- endmacro %}

{#- Spark: the file's path as DuckDB gives it (no file: scheme) and, for Parquet, the row's position in its file. -#}
{% macro spark__raw_source_relation(relation, node) -%}
    {%- set table = node.meta.get('spark_table', {}) -%}
    {%- set row_number = ', _metadata.row_index as file_row_number' if table.get('using') == 'parquet' else '' -%}
    {{ return("(select *, regexp_replace(_metadata.file_path, '^file:(//)?', '') as filename" ~ row_number
        ~ ' from ' ~ relation ~ ')') }}
{%- endmacro %}

{#
    On-run-start on Spark: (re)declare every landing-zone source an enabled model reads as an external table over
    its files (meta `spark_table` in the sources files: `using`, `path`, `options`), and create the ops ledgers dbt
    reads, empty, when they do not exist (columns and types from _ops__sources.yml). Declaring again on every run
    keeps HOLDOUT_HOME movable: only the metastore entry points at the files, dropping it never deletes them.
    DuckDB needs nothing: dbt-duckdb reads `external_location`, and holdout.warehouse creates the ledgers.
#}
{% macro spark_external_tables() -%}
    {{ return(adapter.dispatch('spark_external_tables', 'holdout')()) }}
{%- endmacro %}
{% macro default__spark_external_tables() -%}
    {{ return('') }}
{%- endmacro %}
{% macro spark__spark_external_tables() -%}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set read = [] -%}
    {%- for node in graph.nodes.values() -%}
        {%- do read.extend(node.depends_on.nodes) -%}
    {%- endfor -%}
    {%- set statements = [] -%}
    {%- set ledgers = [] -%}
    {%- for source in graph.sources.values() -%}
        {%- set table = source.meta.get('spark_table') -%}
        {%- set entity = source.source_name ~ '/' ~ source.name -%}
        {%- set qualified = source.schema ~ '.' ~ source.identifier -%}
        {%- if table and source.unique_id in read and entity not in var('absent_sources', []) -%}
            {%- set options = [] -%}
            {%- for key, value in (table.get('options') or {}).items() -%}
                {%- do options.append(key ~ ' ' ~ text_literal(value)) -%}
            {%- endfor -%}
            {%- do options.append('path ' ~ text_literal(table.path | replace('{name}', source.name))) -%}
            {%- do statements.append('create database if not exists ' ~ source.schema) -%}
            {%- do statements.append('drop table if exists ' ~ qualified) -%}
            {%- do statements.append('create table ' ~ qualified ~ ' using ' ~ table.using
                ~ ' options (' ~ options | join(', ') ~ ')') -%}
        {%- elif source.source_name == 'ops' and source.columns -%}
            {%- set columns = [] -%}
            {%- for column in source.columns.values() -%}
                {%- do columns.append(adapter.quote(column.name) ~ ' ' ~ column.data_type) -%}
            {%- endfor -%}
            {%- do statements.append('create database if not exists ops') -%}
            {%- do statements.append('create table if not exists ' ~ qualified ~ ' (' ~ columns | join(', ')
                ~ ') using parquet') -%}
            {%- do ledgers.append((qualified, source.columns.values() | list)) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for statement in statements -%}
        {%- do run_query(statement) -%}
    {%- endfor -%}
    {#- a ledger created by an older release lacks the columns added since (as ensure_ops_schema adds them on
        DuckDB): add them, empty, keeping the rows it holds -#}
    {%- for qualified, declared in ledgers -%}
        {%- set existing = run_query('describe table ' ~ qualified).columns[0].values() | map('lower') | list -%}
        {%- set missing = [] -%}
        {%- for column in declared if column.name | lower not in existing -%}
            {%- do missing.append(adapter.quote(column.name) ~ ' ' ~ column.data_type) -%}
        {%- endfor -%}
        {%- if missing -%}
            {%- do run_query('alter table ' ~ qualified ~ ' add columns (' ~ missing | join(', ') ~ ')') -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return('') }}
{%- endmacro %}

{# The customer id rule (var customer_id_pattern): true when `column` is a usable customer id. #}
{% macro is_valid_customer_id(column) -%}
    coalesce({{ regexp_whole_match(column, text_literal(var("customer_id_pattern"))) }}, false)
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
