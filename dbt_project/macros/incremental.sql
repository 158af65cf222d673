{#
    Incremental base models of part files (docs/ARCHITECTURE.md "Incremental daily builds").

    The landing zone is append-only part files. A daily build reads only the part files its table holds no row of
    (`only_new_part_files`, a constant `filename in (...)` list, so DuckDB opens just those files); the strategy
    `append_new_files` appends their rows and applies the one rule that crosses files, the de-duplication of a key
    (`meta.supersede`); `part_files_manifest` records each loaded file's size and modification time. The event
    models refuse a daily build (asking for `holdout build --full-refresh`) when a loaded file was rewritten or
    removed, because rows already loaded from it could not be taken back. The smaller table models (orders, CRM
    customers, consents) pass `reload_when` instead: they reload every file, by themselves, when a loaded file
    was rewritten, when what their rows depend on outside their files changed (e.g. the fx rates), or when nothing
    was recorded (a warehouse built before they were incremental); a removed file is refused by them too, since
    its rows would leave the warehouse without a word.
#}

{#
    Incremental on DuckDB only: Spark's parquet tables have no delete or update, and dbt-spark accepts only its own
    strategies, so on Spark the part-file base models are tables and every build is a full one.
#}
{% macro event_base_materialization() -%}
    {{ return('incremental' if target.type == 'duckdb' else 'table') }}
{%- endmacro %}

{# Bump when a macro the reloadable base models call changes what they compute (their own SQL is in the state). #}
{% macro part_files_logic_version() -%}{{ return(1) }}{%- endmacro %}

{# The state tables of the incremental models, one definition each: DDL that does nothing when the table exists. #}
{% macro incremental_state_ddl(schema, table) -%}
    {%- set columns = {
        'loaded_part_files': 'entity varchar, file_name varchar, size bigint, last_modified timestamptz, loaded_at timestamptz',
        'loaded_part_files_inputs': 'entity varchar, state varchar',
        'incremental_inputs': 'model varchar, input varchar, item varchar, version varchar',
    } -%}
    create table if not exists {{ schema }}.{{ table }} ({{ columns[table] }})
{%- endmacro %}

{#
    on-run-start: the state tables, created once before any model runs. Left to the models' hooks, two models running
    at once on several dbt threads (the first build, or the first after an upgrade) could both create the same table
    and one would fail on DuckDB's catalog write-write conflict. The hooks keep their no-op DDL for a home whose
    tables were dropped by hand.
#}
{% macro create_incremental_state_tables() -%}
    {%- if not execute or target.type != 'duckdb' or runtime_var('passthrough', false) -%}{{ return('') }}{%- endif -%}
    {%- set staging = generate_schema_name('staging', none) | trim -%}
    {%- set intermediate = generate_schema_name('intermediate', none) | trim -%}
    create schema if not exists {{ staging }};
    {{ incremental_state_ddl(staging, 'loaded_part_files') }};
    {{ incremental_state_ddl(staging, 'loaded_part_files_inputs') }};
    create schema if not exists {{ intermediate }};
    {{ incremental_state_ddl(intermediate, 'incremental_inputs') }}
{%- endmacro %}

{# The table of loaded part files, in the schema of the base models. #}
{% macro part_files_manifest() -%}
    {{ return(this.schema ~ '.loaded_part_files') }}
{%- endmacro %}

{# The glob the source reads ('<raw>/web/events/*.parquet'): the first quoted string of its reader call. #}
{% macro part_files_glob(source_name, table_name) -%}
    {%- if not execute -%}{{ return('') }}{%- endif -%}  {#- parsing renders hooks with placeholder relations -#}
    {%- set reader = source(source_name, table_name) | string -%}
    {%- set found = modules.re.search("'([^']*)'", reader) -%}
    {%- if not found -%}
        {{ exceptions.raise_compiler_error('source ' ~ source_name ~ '.' ~ table_name ~ ' reads no file glob: '
            ~ reader) }}
    {%- endif -%}
    {{ return(found.group(1)) }}
{%- endmacro %}

{#
    The part files this build of {{ this }} loads (full paths, as the reader names them): every landed file on a full
    build, on a daily build those the manifest does not list. Raises when a recorded file was rewritten (other size
    or modification time) or removed since it was loaded. The list, with each file's size and modification time as
    listed here, just before the load reads exactly these files, is kept in `<model>__listed` until the post-hook
    records it (part_files_after_load): the manifest holds what the load read, so a file rewritten during the build
    differs from its record and is refused by the next daily build.
    `reload_when` (a SQL expression, or none): the model reloads every file instead of refusing, see
    `part_files_reload`.
#}
{% macro part_files_to_load(source_name, table_name, reload_when=none) -%}
    {{ return(adapter.dispatch('part_files_to_load', 'holdout')(source_name, table_name, reload_when)) }}
{%- endmacro %}

{% macro default__part_files_to_load(source_name, table_name, reload_when=none) -%}
    {{ exceptions.raise_compiler_error('incremental part-file loading needs DuckDB (read_blob); build '
        ~ this ~ ' with --full-refresh') }}
{%- endmacro %}

{% macro duckdb__part_files_to_load(source_name, table_name, reload_when=none) -%}
    {%- set entity = source_name ~ '/' ~ table_name -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set listed = this.schema ~ '.' ~ this.identifier ~ '__listed' -%}
    {%- set reload = reload_when is not none and part_files_reload(entity, reload_when) -%}
    {%- set recorded -%}
        {%- if is_incremental() and not reload and table_exists(this.schema, 'loaded_part_files') %}
        select file_name, size, last_modified from {{ part_files_manifest() }} where entity = '{{ entity }}'
        {%- else %}
        select null::varchar as file_name, null::bigint as size, null::timestamptz as last_modified where false
        {%- endif %}
    {%- endset -%}
    {%- if entity in var('absent_sources', []) -%}
        {#- no part files left: recorded ones were removed (a full build would have no rows) -#}
        {%- do refuse_changed_part_files(entity, run_query('select file_name from (' ~ recorded ~ ') order by 1')
            .columns[0].values() | list) -%}
        {%- do run_query('create or replace table ' ~ listed ~ ' as select null::varchar as path, null::varchar as '
            ~ 'file_name, null::bigint as size, null::timestamptz as last_modified where false') -%}
        {{ return([]) }}
    {%- endif -%}
    {%- if is_incremental() and not reload and not run_query('select count(*) from (' ~ recorded ~ ')').rows[0][0]
        and run_query('select count(*) from (select 1 from ' ~ this ~ ' limit 1)').rows[0][0] -%}
        {{ exceptions.raise_compiler_error(entity ~ ': ' ~ this ~ ' holds rows but no part file is recorded as '
            ~ 'loaded; run `holdout build --full-refresh`') }}
    {%- endif -%}
    {%- set landed = "select filename as path, parse_filename(filename) as file_name, size, last_modified "
        ~ "from read_blob('" ~ part_files_glob(source_name, table_name) ~ "')" -%}
    {%- set changed -%}
        with landed as ({{ landed }}), recorded as ({{ recorded }})
        select file_name from recorded
        where not exists (
            select 1 from landed
            where landed.file_name = recorded.file_name
                and landed.size = recorded.size and landed.last_modified = recorded.last_modified
        )
        order by 1
    {%- endset -%}
    {%- do refuse_changed_part_files(entity, run_query(changed).columns[0].values() | list) -%}
    {%- do run_query('create or replace table ' ~ listed ~ ' as with landed as (' ~ landed ~ '), recorded as ('
        ~ recorded ~ ') select * from landed where file_name not in (select file_name from recorded)') -%}
    {{ return(run_query('select path from ' ~ listed ~ ' order by path').columns[0].values() | list) }}
{%- endmacro %}

{#
    Whether a reloadable base model reads every file this build (its table is then emptied first, by the strategy):
    on a full build; when a loaded file was rewritten (a removed one is refused, whatever else changed); when the
    state (an md5 of `reload_when`'s value, of the model's SQL and of the vars that change its rows) differs from the
    one recorded in `<schema>.loaded_part_files_inputs`; or when none was recorded. Writes `<model>__load` (state,
    reload), which the strategy and the post-hook read.
#}
{% macro part_files_reload(entity, reload_when) -%}
    {%- set logic = local_md5(model.raw_code ~ '|' ~ tojson([var('currency', none), var('customer_id_pattern', none),
        part_files_logic_version()])) -%}
    {%- set state = run_query("select md5(coalesce(cast((" ~ reload_when ~ ") as varchar), '') || '#" ~ logic
        ~ "')").rows[0][0] -%}
    {%- set reload = not is_incremental() -%}
    {%- if not reload -%}
        {%- set previous = run_query("select max(state) from " ~ this.schema ~ ".loaded_part_files_inputs where entity = '"
            ~ entity ~ "'").rows[0][0] if table_exists(this.schema, 'loaded_part_files_inputs') else none -%}
        {%- set recorded = run_query("select file_name, size, last_modified from " ~ part_files_manifest()
            ~ " where entity = '" ~ entity ~ "'") if table_exists(this.schema, 'loaded_part_files') else none -%}
        {%- if recorded is none -%}
            {%- set reload = true -%}
        {%- elif entity in var('absent_sources', []) -%}
            {%- set reload = previous != state or recorded.rows | length > 0 -%}
        {%- else -%}
            {%- set changed -%}
                with landed as (
                    select parse_filename(filename) as file_name, size, last_modified
                    from read_blob('{{ part_files_glob(entity.split('/')[0], entity.split('/')[1]) }}')
                )
                select
                    recorded.file_name,
                    not exists (select 1 from landed where landed.file_name = recorded.file_name) as removed
                from {{ part_files_manifest() }} as recorded
                where entity = '{{ entity }}' and not exists (
                    select 1 from landed
                    where landed.file_name = recorded.file_name
                        and landed.size = recorded.size and landed.last_modified = recorded.last_modified
                )
                order by 1
            {%- endset -%}
            {%- set changed = run_query(changed) -%}
            {#- a rewritten file is reloaded with the others; a removed one would take its rows away unannounced
                (append-only part files), so it is refused as the event models refuse it, whatever else changed -#}
            {%- do refuse_changed_part_files(entity, changed.rows | selectattr(1) | map(attribute=0) | list) -%}
            {%- set reload = previous != state or changed.rows | length > 0 -%}
        {%- endif -%}
    {%- endif -%}
    {%- do run_query('create or replace table ' ~ this.schema ~ '.' ~ this.identifier ~ "__load as select '" ~ state
        ~ "' as state, " ~ reload ~ ' as reload') -%}
    {{ return(reload) }}
{%- endmacro %}

{# Stop the build when loaded part files changed or disappeared; the message names them and the way out. #}
{% macro refuse_changed_part_files(entity, changed) -%}
    {%- if changed -%}
        {{ exceptions.raise_compiler_error(entity ~ ': ' ~ changed | length ~ ' loaded part file(s) rewritten or '
            ~ 'removed since they were loaded (' ~ changed[:3] | join(', ') ~ (', ...' if changed | length > 3
            else '') ~ '); a daily build cannot take their rows back: run `holdout build --full-refresh`') }}
    {%- endif -%}
{%- endmacro %}

{#
    The filter of a base model's raw source CTE: the part files part_files_to_load listed, as a constant list, so
    the reader opens only those files (on a full build every landed file, so that a file landing meanwhile waits
    for the next build instead of being read unrecorded). Every row where the table is rebuilt on every run.
#}
{% macro only_new_part_files(source_name, table_name, reload_when=none) -%}
    {%- if target.type != 'duckdb' or config.get('materialized') != 'incremental' -%}
        true
    {%- elif (source_name ~ '/' ~ table_name) in var('absent_sources', []) and not is_incremental() -%}
        {%- do part_files_to_load(source_name, table_name, reload_when) -%}
        true  {#- the empty relation of the declared columns -#}
    {%- else -%}
        {%- set files = part_files_to_load(source_name, table_name, reload_when) -%}
        {%- if not files -%}
            false
        {%- else -%}
            filename in ({% for path in files %}'{{ path | replace("'", "''") }}'{{ ', ' if not loop.last }}{% endfor %})
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{# pre-hook: the manifest exists; a full build forgets what it recorded for the entity. #}
{% macro part_files_before_load(source_name, table_name) -%}
    {%- if target.type != 'duckdb' %}
    select 1  -- no part-file record where the table is rebuilt on every run
    {%- else %}
    {{ incremental_state_ddl(this.schema, 'loaded_part_files') }};
    {%- if not is_incremental() %}
    delete from {{ part_files_manifest() }} where entity = '{{ source_name }}/{{ table_name }}';
    {%- endif %}
    {%- endif %}
{%- endmacro %}

{# post-hook: record the part files the load read, with the size and modification time listed before it read. #}
{% macro part_files_after_load(source_name, table_name) -%}
    {%- if target.type != 'duckdb' %}
    select 1
    {%- else %}
    {%- set listed = this.schema ~ '.' ~ this.identifier ~ '__listed' %}
    {%- set load = this.schema ~ '.' ~ this.identifier ~ '__load' %}
    {%- set entity = source_name ~ '/' ~ table_name %}
    {%- if execute and table_exists(this.schema, this.identifier ~ '__load') %}
    {#- a reloadable model: a reload replaced every file's rows; keep the state it loaded with -#}
    delete from {{ part_files_manifest() }}
    where entity = '{{ entity }}' and (select reload from {{ load }});
    {{ incremental_state_ddl(this.schema, 'loaded_part_files_inputs') }};
    delete from {{ this.schema }}.loaded_part_files_inputs where entity = '{{ entity }}';
    insert into {{ this.schema }}.loaded_part_files_inputs select '{{ entity }}', state from {{ load }};
    drop table {{ load }};
    {%- endif %}
    insert into {{ part_files_manifest() }}
    select '{{ entity }}', file_name, size, last_modified, now() from {{ listed }};
    drop table {{ listed }}
    {%- endif %}
{%- endmacro %}

{#
    Incremental strategy `append_new_files`: append the new files' rows. With `meta.supersede` (key: a column or a
    list of columns, keep 'first_file' or 'last_file', duplicate: the reason of a superseded row, key_rejections:
    the reasons that precede it and that the key's values alone decide, order_first: optional [column, direction]
    pairs a full build ranks by before the file, e.g. an export time), a key that the new files and the table both
    hold keeps one row, as a full build would: a full build ranks a key's rows by those columns, then by file (then
    row), so its one kept row is the first of the table's kept row and the new files' kept row in that order; the
    other becomes a duplicate. Nothing else in a row depends on other files, so the table equals a full build's.
    A reloadable model (`<model>__load`, part_files_reload) that reloads every file empties the table first.
#}
{% macro get_incremental_append_new_files_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set new = arg_dict['temp_relation'] -%}
    {%- set columns = arg_dict['dest_columns'] | map(attribute='quoted') | join(', ') -%}
    {%- set rule = config.get('meta', {}).get('supersede') -%}
    {%- if table_exists(target.schema, target.identifier ~ '__load') %}
    delete from {{ target }} where (select reload from {{ target.schema }}.{{ target.identifier }}__load);
    {%- endif %}
    {%- if rule -%}
        {%- set keys = [rule['key']] if rule['key'] is string else rule['key'] -%}
        {%- set order_first = rule.get('order_first', []) -%}
        {%- set read = keys + ['source_file'] + order_first | map('first') | list -%}
        {%- set keeps = "rejection_reason is distinct from '" ~ rule['duplicate'] ~ "' and coalesce(rejection_reason, '') not in ('"
            ~ rule.get('key_rejections', []) | join("', '") ~ "') and " ~ keys | join(' is not null and ') ~ " is not null" -%}
    create or replace temp table holdout_superseded_rows as
    with kept as (
        select {{ read | join(', ') }} from {{ new }} where {{ keeps }}
    ),
    candidates as (
        select * from kept
        union all
        select {{ read | join(', ') }} from {{ target }} as loaded
        where {{ keeps }} and exists (
            select 1 from kept where {% for key in keys %}kept.{{ key }} = loaded.{{ key }}{{ ' and ' if not loop.last }}{% endfor %}
        )
    ),
    ranked as (
        select
            *,
            row_number() over (
                partition by {{ keys | join(', ') }}
                order by {% for column, direction in order_first %}{{ column }} {{ direction }}, {% endfor -%}
                    parse_filename(source_file) {{ 'desc' if rule['keep'] == 'last_file' else 'asc' }}
            ) as file_rank
        from candidates
    )
    select {% for key in keys %}{{ key }} as holdout_key_{{ loop.index }}, {% endfor %}source_file as holdout_source_file
    from ranked where file_rank > 1;
    {%- for relation in [target, new] %}
    update {{ relation }} as superseded set rejection_reason = '{{ rule['duplicate'] }}'
    from holdout_superseded_rows
    where {% for key in keys %}superseded.{{ key }} = holdout_superseded_rows.holdout_key_{{ loop.index }} and {% endfor -%}
        superseded.source_file = holdout_superseded_rows.holdout_source_file
        and {{ keeps }};
    {%- endfor %}
    drop table holdout_superseded_rows;
    {%- endif %}
    insert into {{ target }} ({{ columns }}) select {{ columns }} from {{ new }}
{%- endmacro %}

{#
    The normalized addresses of every CRM version of an erased customer (`customers` and `erasures`: CTEs of the
    raw CRM customers and stg_crm__erasure_requests). base_crm__erased_emails selects them; a daily build blanks
    the already loaded e-mail events of a newly erased address with them (`forget_erased_addresses`).
#}
{% macro erased_email_addresses(customers, erasures) -%}
    select distinct {{ normalize_email(customers ~ '.email') }} as email
    from {{ customers }}
    inner join {{ erasures }} on upper(trim({{ customers }}.customer_id)) = {{ erasures }}.customer_id
    where {{ normalize_email(customers ~ '.email') }} is not null
{%- endmacro %}

{#
    post-hook of base_email__events: rows loaded before their address's customer was erased lose the address and
    become `erased_customer`, unless a reason that precedes it rejects them already (the model's `meta.supersede`:
    its key rejections and its duplicate reason), as a full build would flag them. The update re-reads the whole
    CRM export (the erased addresses are never stored), so a daily build runs it only when what decides its result
    changed since it last ran (`erased_addresses_state`): the CRM customer part files (names and contents), the set
    of erased customers, or the rule itself (the SQL of the erased addresses and the kept reasons).
    `erased_addresses_applied` keeps that state (a hash, no address) and `blanked_at`, when an update last changed a
    loaded row (an update that blanks nothing, e.g. after a CRM file that erases no one new, keeps it): the e-mail
    per-day sums recompute every day when it moves (`erased_addresses_blanked_at`), not on every CRM file. A full
    build blanks in the model and runs the update too: a CRM file that lands while the model runs is then applied
    before its state is recorded (the state is read before the update reads).
#}
{% macro forget_erased_addresses() -%}
    {#- outside the branch: dbt learns the dependency when it parses the hook -#}
    {%- set erasure_requests = ref('stg_crm__erasure_requests') -%}
    {%- if not execute or target.type != 'duckdb' %}
    select 1  -- Spark rebuilds the table, blanking in the model
    {%- else %}
    {%- set supersede = config.get('meta')['supersede'] -%}
    {%- set kept_reasons = supersede['key_rejections'] + [supersede['duplicate']] -%}
    {%- set erased -%}
        with
        customers as (select * from {{ raw_source('crm', 'customers') }}),
        erasures as (select * from {{ erasure_requests }}),
        erased as ({{ erased_email_addresses('customers', 'erasures') }})
        select email from erased
    {%- endset -%}
    {%- set rule = local_md5(erased_email_addresses('customers', 'erasures') ~ '|' ~ kept_reasons | join(',')) -%}
    {%- set applied = adapter.get_relation(this.database, this.schema, 'erased_addresses_applied') -%}
    {%- set state = run_query('select ' ~ erased_addresses_state(erasure_requests, rule)).columns[0].values()[0] -%}
    {%- set previous = run_query('select max(state) from ' ~ applied).columns[0].values()[0] if applied else none -%}
    {%- set blanked_at = erased_addresses_blanked_at(this.schema) -%}
    {%- if is_incremental() and state == previous and blanked_at != 'null' %}
    select 1  -- no CRM customer file, no erasure and no rule changed since the addresses were last blanked
    {%- else %}
    {#- the addresses still held before the update: fewer after it means it changed loaded rows -#}
    create or replace temp table holdout_addresses_held as
    select count(email) as held, cast({{ blanked_at }} as timestamptz) as blanked_at from {{ this }};
    update {{ this }}
    set
        email = null,
        rejection_reason = case
            when rejection_reason in ('{{ kept_reasons | join("', '") }}') then rejection_reason
            else 'erased_customer'
        end
    where email in ({{ erased }});
    create or replace table {{ this.schema }}.erased_addresses_applied as
    select
        '{{ state }}' as state,
        now() as applied_at,
        case when held = (select count(email) from {{ this }}) then coalesce(blanked_at, now()) else now() end
            as blanked_at
    from holdout_addresses_held;
    drop table holdout_addresses_held
    {%- endif %}
    {%- endif %}
{%- endmacro %}

{#
    When forget_erased_addresses last changed a loaded e-mail row (SQL: a timestamp, null when nothing was recorded,
    e.g. a warehouse built before the column existed). Read by the e-mail per-day sums' fingerprint.
#}
{% macro erased_addresses_blanked_at(schema) -%}
    {%- if execute and run_query("select count(*) from information_schema.columns where table_schema = '" ~ schema
        ~ "' and table_name = 'erased_addresses_applied' and column_name = 'blanked_at'").rows[0][0] -%}
        {{ return('(select max(blanked_at) from ' ~ schema ~ '.erased_addresses_applied)') }}
    {%- endif -%}
    {{ return('null') }}
{%- endmacro %}

{#
    A fingerprint of what forget_erased_addresses reads (a SQL expression): the CRM customer part files' names and
    contents (an md5 of the bytes: a file rewritten in place with the same size and time still counts), the erased
    customer ids and `rule` (an md5 of the rule's SQL and kept reasons). Equal fingerprints, equal blanking.
#}
{% macro erased_addresses_state(erasure_requests, rule) -%}
    {%- if 'crm/customers' in var('absent_sources', []) -%}
        {%- set files = "''" -%}
    {%- else -%}
        {%- set files -%}
            (select string_agg(parse_filename(filename) || '|' || md5(content), ','
                order by filename) from read_blob('{{ part_files_glob('crm', 'customers') }}'))
        {%- endset -%}
    {%- endif -%}
    md5(coalesce({{ files }}, '') || '#' || coalesce(
        (select string_agg(customer_id, ',' order by customer_id) from {{ erasure_requests }}), '') || '#{{ rule }}')
{%- endmacro %}

{#
    A personal column of base_crm__customers: `expression` while the customer is not erased (`kept`), else null.
    The column must be listed in the model's meta `erased_customer_columns`, the one list forget_erased_customers
    blanks on rows loaded before the erasure.
#}
{% macro unless_erased(column, expression, kept) -%}
    {%- if execute and column not in config.get('meta', {}).get('erased_customer_columns', []) -%}
        {{ exceptions.raise_compiler_error(column ~ ' is blanked for erased customers but not listed in meta '
            ~ 'erased_customer_columns of ' ~ this) }}
    {%- endif -%}
    case when {{ kept }} then {{ expression }} end as {{ column }}
{%- endmacro %}

{#
    post-hook of base_crm__customers: the rows of a customer erased since they were loaded lose their personal
    columns (meta `erased_customer_columns`), as a full build would load them. Erasure requests only grow, so no row
    gets its data back; the update touches only erased customers' rows that still hold some.
#}
{% macro forget_erased_customers() -%}
    {#- outside the branch: dbt learns the dependency when it parses the hook -#}
    {%- set erasure_requests = ref('stg_crm__erasure_requests') -%}
    {%- if not execute or target.type != 'duckdb' or config.get('materialized') != 'incremental' %}
    select 1  -- the table is rebuilt on every run, blanking in the model
    {%- else %}
    {%- set columns = config.get('meta')['erased_customer_columns'] %}
    update {{ this }}
    set {% for column in columns %}{{ column }} = null{{ ', ' if not loop.last }}{% endfor %}
    where customer_id in (select customer_id from {{ erasure_requests }})
        and ({% for column in columns %}{{ column }} is not null{{ ' or ' if not loop.last }}{% endfor %})
    {%- endif %}
{%- endmacro %}
