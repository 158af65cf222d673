{#
    Incremental models derived from the event base tables (docs/ARCHITECTURE.md "Incremental daily builds"):
    int_order_lines_enriched (key: order_id) and the models read from it, int_orders_summed (key: order_id) and
    int_order_lines_summed_to_customer (key: customer_id; see `order_inputs`), int_web_events_summed_to_cookie_day and
    int_email_events_summed_to_day (key: event_date), and the all-time tables read from those per-day sums,
    int_web_events_summed_to_cookie (key: cookie_id) and int_email_events_summed_to_sender (key: sender_key; see
    `keys_of_changed_days`). Each row depends on the input rows of one key only, so a daily
    build recomputes the keys whose input rows may have changed and replaces their rows (strategy
    `replace_dirty_keys`), and the table equals a full build's:
    - the model names its inputs' items with a version (a base table's part files with their `loaded_at`, or a
      table rebuilt on every build by a hash of each file's rows); an item new or of another version than the
      model recorded last time is changed, and the model's `dirty` SQL turns the changed items into keys;
    - a `fingerprint` covers the small inputs any row may depend on (products, fx rates, the customers, the
      erasure update); when it differs, a recorded item is gone, or nothing was recorded, every key is dirty.
    `<schema>.incremental_inputs` (model, input, item, version) holds what each run read; `<model>__inputs` and
    `<model>__dirty` live from the model's compilation to its post-hook (`record_incremental_inputs`).
    DuckDB only (with the generated staging contracts these models read the base tables of); elsewhere tables.
#}

{% macro derived_materialization(contracts) -%}
    {%- set generated = namespace(all=target.type == 'duckdb') -%}
    {%- for contract in contracts if not provides_contract(contract, 'generated') -%}
        {%- set generated.all = false -%}
    {%- endfor -%}
    {{ return('incremental' if generated.all else 'table') }}
{%- endmacro %}

{#
    The one config of a derived incremental model, called at the model's top: materialized by
    `derived_materialization(contracts)`, strategy `replace_dirty_keys` on the column `dirty_key`, the post-hook
    that records the inputs this run read.
#}
{% macro derived_incremental_config(contracts, dirty_key) -%}
    {%- do config(
        materialized=derived_materialization(contracts),
        incremental_strategy='replace_dirty_keys',
        on_schema_change='fail',
        meta={'dirty_key': dirty_key},
        post_hook='{{ record_incremental_inputs() }}',
    ) -%}
{%- endmacro %}

{% macro incremental_inputs_table() -%}
    {{ return(this.schema ~ '.incremental_inputs') }}
{%- endmacro %}

{# Bump when a macro the derived models call changes what they compute (their own SQL is fingerprinted). #}
{% macro derived_logic_version() -%}{{ return(1) }}{%- endmacro %}

{# Whether a table exists now: asked of the database, because dbt's relation cache misses tables hooks created. #}
{% macro table_exists(schema, name) -%}
    {{ return(run_query("select count(*) from information_schema.tables where table_schema = '" ~ schema
        ~ "' and table_name = '" ~ name ~ "'").rows[0][0] > 0) }}
{%- endmacro %}

{#
    Called at the top of the model (it runs while dbt compiles it): snapshots the inputs' versions and, on a daily
    build, writes the dirty keys. `inputs`: SQL of (input, item, version) rows; `fingerprint`: a SQL expression;
    `dirty`: SQL of `key` rows that may read the CTE `changed` (input, item: new, changed, or gone from an input
    of `removable`; an item gone from another input makes every key dirty). `rewritable`: inputs whose items are
    files a base model reloads when one was rewritten; a recorded item of another version makes every key dirty,
    because a key the rewritten file no longer holds has no row left to mark it. Returns 'dirty' or 'everything'.
#}
{% macro prepare_dirty_keys(inputs, fingerprint, dirty, removable=[], rewritable=[]) -%}
    {%- if not execute or target.type != 'duckdb' or config.get('materialized') != 'incremental' -%}
        {{ return('everything') }}
    {%- endif -%}
    {%- set name = this.schema ~ '.' ~ this.identifier -%}
    {%- do run_query('drop table if exists ' ~ name ~ '__dirty') -%}
    {#- the model's own SQL and the vars that change its upstream rows are part of the fingerprint: a release that
        changes the logic, or a changed currency/department/customer-id setting, recomputes every key rather than
        leaving rows of the old logic beside new ones (bump derived_logic_version when a macro they use changes) -#}
    {%- set logic = local_md5(model.raw_code ~ '|' ~ tojson([var('currency', none), var('departments', none),
        var('customer_id_pattern', none), var('contracts', {}), derived_logic_version()])) -%}
    {%- do run_query('create or replace table ' ~ name ~ '__inputs as select input, item, version from ('
        ~ inputs ~ ') union all select \'fingerprint\', \'\', cast(' ~ fingerprint ~ ' as varchar) || \'#'
        ~ logic ~ '\'') -%}
    {%- if not is_incremental() or not table_exists(this.schema, 'incremental_inputs') -%}
        {{ return('everything') }}
    {%- endif -%}
    {%- set previous = "(select input, item, version from " ~ incremental_inputs_table() ~ " where model = '" ~ this.identifier ~ "')" -%}
    {%- set everything -%}
        select
            not exists (select 1 from {{ previous }})
            or exists (
                select input, item from {{ previous }} where input not in ('{{ removable | join("', '") }}')
                except select input, item from {{ name }}__inputs
            )
            or exists (
                select version from {{ name }}__inputs where input = 'fingerprint'
                except select version from {{ previous }} where input = 'fingerprint'
            )
            {%- if rewritable %}
            or exists (
                select 1 from {{ name }}__inputs as current inner join {{ previous }} as recorded using (input, item)
                where input in ('{{ rewritable | join("', '") }}') and current.version <> recorded.version
            )
            {%- endif %}
    {%- endset -%}
    {%- if run_query(everything).rows[0][0] -%}
        {{ return('everything') }}
    {%- endif -%}
    {%- set changed -%}
        select input, item from (
            select input, item, version from {{ name }}__inputs except select input, item, version from {{ previous }}
        )
        union all
        select input, item from (select input, item from {{ previous }} except select input, item from {{ name }}__inputs)
    {%- endset -%}
    {%- do run_query('create table ' ~ name ~ '__dirty as with changed as (' ~ changed ~ ') select distinct key from ('
        ~ dirty ~ ') where key is not null') -%}
    {{ return('dirty') }}
{%- endmacro %}

{# The filter of an input CTE: its rows of the dirty keys, or every row. #}
{% macro dirty_keys_only(column, mode) -%}
    {%- if mode == 'dirty' and is_incremental() -%}
        {{ column }} in (select key from {{ this.schema }}.{{ this.identifier }}__dirty)
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#
    Incremental strategy `replace_dirty_keys`: delete the rows of the dirty keys (`meta.dirty_key` names the
    column), every row when the model found everything dirty (no `__dirty` table), then insert the recomputed rows.
#}
{% macro get_incremental_replace_dirty_keys_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set columns = arg_dict['dest_columns'] | map(attribute='quoted') | join(', ') -%}
    {%- set dirty = target.schema ~ '.' ~ target.identifier ~ '__dirty' -%}
    delete from {{ target }}
    {%- if table_exists(target.schema, target.identifier ~ '__dirty') %}
    where {{ config.get('meta')['dirty_key'] }} in (select key from {{ dirty }})
    {%- endif %};
    insert into {{ target }} ({{ columns }}) select {{ columns }} from {{ arg_dict['temp_relation'] }}
{%- endmacro %}

{# post-hook: record the inputs' versions this run read; drop the run's working tables. #}
{% macro record_incremental_inputs() -%}
    {%- if target.type != 'duckdb' or config.get('materialized') != 'incremental' %}
    select 1
    {%- else %}
    {%- set name = this.schema ~ '.' ~ this.identifier %}
    {{ incremental_state_ddl(this.schema, 'incremental_inputs') }};  {#- created at run start too (incremental.sql) #}
    delete from {{ incremental_inputs_table() }} where model = '{{ this.identifier }}';
    insert into {{ incremental_inputs_table() }} select '{{ this.identifier }}', input, item, version from {{ name }}__inputs;
    drop table {{ name }}__inputs;
    drop table if exists {{ name }}__dirty
    {%- endif %}
{%- endmacro %}

{# An input's part files as the base model's manifest recorded them, versioned by when they were loaded. #}
{% macro loaded_files_input(base, entity) -%}
    select '{{ entity }}' as input, file_name as item, cast(loaded_at as varchar) as version
    from {{ base.schema }}.loaded_part_files where entity = '{{ entity }}'
{%- endmacro %}

{# An order-independent hash of a relation's rows (`columns`: SQL list), with their count. #}
{% macro rows_hash(relation, columns) -%}
    (select count(*) || ':' || coalesce(sum(hash({{ columns }})::hugeint), 0) from {{ relation }})
{%- endmacro %}

{#
    The dates of an event base table's rows whose key also has a row in a changed file (a later file's row of the
    key can replace an earlier day's row of it), for the models summed per day.
#}
{% macro event_dates_of_changed_files(base, key) -%}
    select cast(event_at as date) as key from {{ base }}
    where {{ key }} in (
        select {{ key }} from {{ base }} where parse_filename(source_file) in (select item from changed)
    )
{%- endmacro %}

{#
    A table rebuilt on every build, as an input: its source files, versioned by a hash of each file's rows (`columns`:
    those read from the file; a rank among other files' rows changes only with a row of the key in a changed file).
#}
{% macro hashed_files_input(relation, entity, columns) -%}
    select '{{ entity }}' as input, parse_filename(source_file) as item, count(*) || ':' || sum(hash({{ columns }})::hugeint)
    from {{ relation }} group by all
{%- endmacro %}

{#
    int_order_lines_enriched's dirty orders: those of every line whose id has a row in a new order line file (a later
    export may name another order), those with a row in a new order file (re-exports), and the orders of every
    customer who became or stopped being a resolved customer (sign-up, erasure). An order file of another version
    (rewritten, the orders reloaded) makes every order dirty instead (`rewritable`).
#}
{% macro orders_of_changed_files(lines, orders) -%}
    select order_id as key from {{ lines }}
    where order_line_id in (
        select order_line_id from {{ lines }}
        where parse_filename(source_file) in (select item from changed where input = 'ecommerce/order_lines')
    )
    union all
    select order_id from {{ orders }}
    where parse_filename(source_file) in (select item from changed where input = 'ecommerce/orders')
        or customer_id in (select item from changed where input = 'customers')
{%- endmacro %}

{#
    The customers whose order lines before the as-of date may have changed (inputs: `order_inputs`): those of the
    orders of the changed files (`orders_of_changed_files`, any version of the order), and, when the as-of date
    moved, those with an enriched line dated between the old and the new one.
#}
{% macro customers_of_changed_orders(lines, orders, enriched) -%}
    with moved_as_of as (
        select min(cast(item as date)) as since, max(cast(item as date)) as until
        from changed where input = 'as_of_date'
    )
    select customer_id as key from {{ orders }}
    where order_id in (select key from ({{ orders_of_changed_files(lines, orders) }}))
    union all
    select customer_id from {{ enriched }}
    where order_date >= (select since from moved_as_of) and order_date < (select until from moved_as_of)
{%- endmacro %}

{#
    The inputs of a model derived from int_order_lines_enriched (`enriched`): the items it recorded (its order line
    and order files, its customers), and with `as_of` the as-of date as an item (pass `removable=['customers',
    'as_of_date']`).
#}
{% macro order_inputs(enriched, as_of=false) -%}
    {{ upstream_inputs(enriched, ['ecommerce/order_lines', 'ecommerce/orders', 'customers']) }}
    {%- if as_of %}
    union all
    {{ as_of_date_input() }}
    {%- endif %}
{%- endmacro %}

{# The as-of date as an input item (pass `removable=['as_of_date']`): when it moves, the days between are changed. #}
{% macro as_of_date_input() -%}
    select 'as_of_date', cast({{ as_of_date() }} as varchar), ''
{%- endmacro %}

{#
    The inputs of a model read from the per-day sums `per_day`, as they were built: the part files its last run had
    read (its recorded items of `entity`), and the as-of date as an item (pass `removable=['as_of_date']`: when it
    moves, keys_of_changed_days marks the days between). `upstream_fingerprint` gives the per-day model's own, so a
    change of the per-day model, of what it reads whole or of its logic makes every key dirty here too. What a model
    read from the per-day table is therefore what the per-day model had incorporated, even when a build selected one
    of them alone. The as-of date is not in the fingerprint: every daily build moves it.
#}
{% macro per_day_files_input(per_day, entity) -%}
    {{ upstream_inputs(per_day, [entity]) }}
    union all
    {{ as_of_date_input() }}
{%- endmacro %}

{#
    A model derived from another derived model `upstream` takes as its inputs the items `upstream` recorded for
    `inputs` (what `upstream` had incorporated, even when a build selected the downstream model alone) and as its
    fingerprint `upstream`'s own, so a change of `upstream`'s logic or of what it reads whole reaches it too.
#}
{% macro upstream_inputs(upstream, inputs) -%}
    {%- if execute and target.type == 'duckdb' and table_exists(this.schema, 'incremental_inputs') -%}
    select input, item, version from {{ incremental_inputs_table() }}
    where model = '{{ upstream.identifier }}' and input in ('{{ inputs | join("', '") }}')
    {%- else -%}
    select '' as input, '' as item, '' as version where false
    {%- endif %}
{%- endmacro %}

{% macro upstream_fingerprint(upstream) -%}
    {%- if execute and target.type == 'duckdb' and table_exists(this.schema, 'incremental_inputs') -%}
    {{ return("(select coalesce(max(version), '') from " ~ incremental_inputs_table() ~ " where model = '"
        ~ upstream.identifier ~ "' and input = 'fingerprint')") }}
    {%- else -%}
    {{ return("''") }}
    {%- endif -%}
{%- endmacro %}

{#
    The dirty keys of an all-time table that keeps, per key, only the last date (before the as-of date) of each
    measure, computed from the per-day sums `per_day` (inputs: `per_day_files_input`, with `removable=['as_of_date']`).
    The changed days are the per-day table's own dirty days (the rows of the changed part files' event keys, on any
    of their days) and, when the as-of date moved, the days between the old and the new one. A key is dirty when it
    has a row on a changed day now (added or changed), or when one of its stored last dates (`last_dates`) is a
    changed day (its row of that day may be gone). Any other key keeps its last dates: each lies on a day whose rows
    did not change, and no later row was added. `per_day_key`: the key's SQL over the per-day table's columns.
#}
{% macro keys_of_changed_days(per_day, per_day_key, base, event_key, last_dates) -%}
    {%- set on_changed_day -%}
        (__column__ in (select key from changed_days)
            or __column__ >= (select since from moved_as_of) and __column__ < (select until from moved_as_of))
    {%- endset -%}
    with
    changed_days as ({{ event_dates_of_changed_files(base, event_key) }}),
    moved_as_of as (
        select min(cast(item as date)) as since, max(cast(item as date)) as until
        from changed where input = 'as_of_date'
    )
    select {{ per_day_key }} as key from {{ per_day }} where {{ on_changed_day | replace('__column__', 'event_date') }}
    union all
    select {{ (config.get('meta') or {}).get('dirty_key') }} from {{ this }}
    where {% for column in last_dates %}{{ on_changed_day | replace('__column__', column) }}{{ ' or ' if not loop.last }}{% endfor %}
{%- endmacro %}
