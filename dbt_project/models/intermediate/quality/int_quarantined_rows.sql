-- Every raw row kept out of the warehouse's entities, with why: rejected by staging or orphaned.
with

rejected as (

    select *, 'rejected' as quarantine_stage from {{ ref('int_rejected_rows_unioned') }}

),

orphaned as (

    select *, 'orphaned' as quarantine_stage from {{ ref('int_orphaned_rows_found') }}

),

unioned as (

    select * from rejected
    union all
    select * from orphaned

),

final as (

    select
        -- duplicates share a record key, so the occurrence number makes the row id unique
        source_name || '.' || entity || ':' || coalesce(record_key, '<null>') || ':' || rejection_reason
            || ':' || cast(row_number() over (
                partition by source_name, entity, record_key, rejection_reason order by source_file
            ) as {{ string_type() }}) as quarantine_id,
        source_name,
        entity,
        record_key,
        quarantine_stage,
        rejection_reason,
        source_file
    from unioned

)

select * from final
