{#
    How fct_segment_membership_history writes its changed intervals into the table (README "Running on Spark").
    The model emits only the changed intervals, keyed (customer_id, segment_id, valid_from), on every engine.

    DuckDB: dbt's delete+insert replaces the rows of those keys, then two post-hooks delete the voided [D, D)
    intervals and the erased customers' history.

    Spark with plain parquet tables (local session): there is no delete and no merge (those need Delta, Iceberg or
    Hudi), and a table cannot be overwritten by a query that reads it. So the changes are appended, and the hooks
    restate the table through two side tables:
      pre:  __previous = the table before the run (if __previous is still there, a run died half-way: the table
            is first put back from it, so a killed build loses and doubles nothing);
      post: __next = __previous without the keys of the appended rows, plus the appended rows, less the voided
            intervals and the erased customers; the table is overwritten from __next; both side tables dropped.
    On a lakehouse format, `merge` on the unique key would replace all of this.
#}

{% macro segment_history_strategy() -%}
    {{ return(adapter.dispatch('segment_history_strategy')()) }}
{%- endmacro %}

{% macro default__segment_history_strategy() -%}
    {{ return('delete+insert') }}
{%- endmacro %}

{% macro spark__segment_history_strategy() -%}
    {{ return('append') }}
{%- endmacro %}

{# Hook templates (rendered at run time, each one statement). #}
{% macro segment_history_hooks(phase) -%}
    {{ return(adapter.dispatch('segment_history_hooks')(phase)) }}
{%- endmacro %}

{% macro default__segment_history_hooks(phase) -%}
    {%- if phase == 'pre' -%}
        {{ return([]) }}
    {%- endif -%}
    {{ return([
        "delete from {{ this }} where valid_to <= valid_from",
        "delete from {{ this }} where customer_id not in (select customer_id from {{ ref('dim_customers') }})",
    ]) }}
{%- endmacro %}

{% macro spark__segment_history_hooks(phase) -%}
    {%- set steps = ['restore', 'snapshot'] if phase == 'pre' else ['drop_next', 'next', 'overwrite', 'drop_next', 'drop_previous'] -%}
    {%- set hooks = [] -%}
    {%- for step in steps -%}
        {%- do hooks.append("{{ segment_history_step(this, '" ~ step ~ "', ref('dim_customers')) }}") -%}
    {%- endfor -%}
    {{ return(hooks) }}
{%- endmacro %}

{# One Spark statement of the restatement, or nothing when the step does not apply. #}
{% macro segment_history_step(relation, step, customers) -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set previous = relation.incorporate(path={'identifier': relation.identifier ~ '__previous'}) -%}
    {%- set next = relation.incorporate(path={'identifier': relation.identifier ~ '__next'}) -%}
    {%- set exists = run_query("show tables in " ~ relation.schema ~ " like '" ~ relation.identifier ~ "'") | length > 0 -%}
    {%- set has_previous = run_query("show tables in " ~ relation.schema ~ " like '" ~ previous.identifier ~ "'") | length > 0 -%}
    {%- set columns = 'customer_id, segment_id, valid_from, valid_to' -%}
    {%- if step == 'restore' and exists and has_previous -%}
        insert overwrite table {{ relation }} select {{ columns }} from {{ previous }}
    {%- elif step == 'snapshot' and exists and not has_previous -%}
        create table {{ previous }} using parquet as select {{ columns }} from {{ relation }}
    {%- elif step == 'drop_next' -%}
        drop table if exists {{ next }}
    {%- elif step == 'next' and has_previous -%}
        create table {{ next }} using parquet as
        with appended as (
            select {{ columns }} from {{ relation }}
            except all
            select {{ columns }} from {{ previous }}
        ),
        kept as (
            select recorded.* from {{ previous }} as recorded
            left anti join appended
                on recorded.customer_id = appended.customer_id
                and recorded.segment_id = appended.segment_id
                and recorded.valid_from = appended.valid_from
        ),
        restated as (
            select {{ columns }} from kept
            union all
            select {{ columns }} from appended
        )
        select {{ columns }} from restated
        where (valid_to is null or valid_to > valid_from)
            and customer_id in (select customer_id from {{ customers }})
    {%- elif step == 'overwrite' and has_previous -%}
        insert overwrite table {{ relation }} select {{ columns }} from {{ next }}
    {%- elif step == 'drop_previous' -%}
        drop table if exists {{ previous }}
    {%- endif -%}
{%- endmacro %}
