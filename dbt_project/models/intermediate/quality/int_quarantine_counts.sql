-- Quarantined rows counted by source, entity and reason: what `holdout build` reports after every build.
with

quarantined as (

    select * from {{ ref('int_quarantined_rows') }}

),

final as (

    select
        source_name || '.' || entity || ':' || rejection_reason as quarantine_count_id,
        source_name,
        entity,
        quarantine_stage,
        rejection_reason,
        count(*) as rows_count
    from quarantined
    group by source_name, entity, quarantine_stage, rejection_reason

)

select * from final
