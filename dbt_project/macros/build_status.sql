{#
    The build-status ledger (ops.builds, created by holdout.warehouse): every dbt invocation appends `started`
    before its first node (on-run-start) and `succeeded` or `failed` after its last (on-run-end). A build killed
    half-way leaves `started` as the latest row, so launches (holdout.build.require_complete_build) refuse to run
    on it. `command` names a selection (`build --select ...`) and ends in ` (refresh)` for a run that only
    refreshes marts from a ledger (var refresh_only): such a run cannot stand for a build of the profile.
    The macro runs no query of its own: dbt runs the hooks outside a transaction, and a query here would
    open one that dbt rolls back after on-run-start. The ledger exists wherever the ops source does.
#}
{% macro record_build_status(phase) %}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set status = 'started' -%}
    {%- set failed = [] -%}
    {%- if phase == 'end' -%}
        {%- for result in results if result.status in ('error', 'fail', 'runtime error') -%}
            {%- do failed.append(result.node.resource_type ~ ' ' ~ result.node.name) -%}
        {%- endfor -%}
        {%- set status = 'failed' if failed else 'succeeded' -%}
    {%- endif -%}
    {%- set as_of = as_of_date_value() -%}
    {%- set selected = invocation_args_dict.get('select') or [] -%}
    {%- set command = invocation_args_dict.get('which', '')
        ~ ((' --select ' ~ (selected | join(' '))) if selected else '')
        ~ (' (refresh)' if runtime_var('refresh_only', false) else '') -%}
    insert into ops.builds (invocation_id, command, status, as_of_date, message, recorded_at)
    values (
        '{{ invocation_id }}',
        '{{ command | replace("'", "''") }}',
        '{{ status }}',
        {{ "cast('" ~ as_of ~ "' as date)" if as_of else 'null' }},
        {{ ("'failed: " ~ (failed | join(', ')) | replace("'", "''") ~ "'") if failed else 'null' }},
        {{ utc_now() }}
    )
{% endmacro %}
