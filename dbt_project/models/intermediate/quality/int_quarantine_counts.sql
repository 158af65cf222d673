-- Quarantined rows counted by source, entity and reason, with the entity's raw rows: what `holdout build` reports
-- after every build, and what its quarantine limit (sources.yml `max_quarantined_share`) is checked on.
with

quarantined as (

    select * from {{ ref('int_quarantined_rows') }}

),

source_rows as (

    {% for model, source_name, entity, _ in base_models() %}
    select '{{ source_name }}' as source_name, '{{ entity }}' as entity, count(*) as source_rows_count
    from {{ ref(model) }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

counted as (

    select
        source_name || '.' || entity || ':' || rejection_reason as quarantine_count_id,
        source_name,
        entity,
        quarantine_stage,
        rejection_reason,
        count(*) as rows_count
    from quarantined
    group by source_name, entity, quarantine_stage, rejection_reason

),

final as (

    select counted.*, source_rows.source_rows_count
    from counted
    left join source_rows on counted.source_name = source_rows.source_name and counted.entity = source_rows.entity

)

select * from final
