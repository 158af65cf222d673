{#
    The build-status ledger (ops.builds, created by holdout.warehouse): every dbt invocation appends `started`
    before its first node (on-run-start) and `succeeded` or `failed` after its last (on-run-end). A build killed
    half-way leaves `started` as the latest row, so launches (holdout.build.require_complete_build) refuse to run
    on it. `command` names a selection (`build --select ...`), says ` (refresh)` for a run that only refreshes marts
    from a ledger (var refresh_only), and, on the last row of a run, ` [profile]` when it built the profile marts
    (dim_customers and the memberships) and ` [orders]` when it loaded the order lines.
    The macro runs no query of its own: dbt runs the hooks outside a transaction, and a query here would
    open one that dbt rolls back after on-run-start. The ledger exists wherever the ops source does.
#}
{% macro record_build_status(phase) %}
    {#- `holdout dbt` (var passthrough) runs reading commands on the live warehouse: they stand for no build -#}
    {%- if not execute or runtime_var('passthrough', false) -%}{{ return('') }}{%- endif -%}
    {%- set status = 'started' -%}
    {%- set failed = [] -%}
    {%- set built = [] -%}
    {%- if phase == 'end' -%}
        {%- for result in results -%}
            {%- if result.status in ('error', 'fail', 'runtime error') -%}
                {%- do failed.append(result.node.resource_type ~ ' ' ~ result.node.name) -%}
            {%- elif result.status == 'success' and result.node.resource_type == 'model' -%}
                {%- do built.append(result.node.name) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- set status = 'failed' if failed else 'succeeded' -%}
    {%- endif -%}
    {%- set as_of = as_of_date_value() -%}
    {%- set selected = invocation_args_dict.get('select') or [] -%}
    {#- what the run stands for, read by holdout.build: a refresh of marts from a ledger, the profile marts built,
        the order lines loaded (the as-of date a close may measure up to) -#}
    {%- set command = invocation_args_dict.get('which', '')
        ~ ((' --select ' ~ (selected | join(' '))) if selected else '')
        ~ (' (refresh)' if runtime_var('refresh_only', false) else '')
        ~ (' [profile]' if 'dim_customers' in built and 'fct_segment_memberships' in built else '')
        ~ (' [orders]' if 'int_order_lines_enriched' in built else '') -%}
    insert into ops.builds (invocation_id, command, status, as_of_date, message, recorded_at)
    values (
        '{{ invocation_id }}',
        {{ text_literal(command) }},
        '{{ status }}',
        {{ "cast('" ~ as_of ~ "' as date)" if as_of else 'null' }},
        {{ text_literal('failed: ' ~ (failed | join(', '))) if failed else 'null' }},
        {{ utc_now() }}
    )
{% endmacro %}
