{#
    Every segment of the library with its member count today. The catalogue (ids, names, definitions,
    cross-products expanded) is written by holdout.segments before the build; here it only meets the counts.
#}

with catalogue as (

    select * from {{ source('segment_library', 'catalogue') }}

),

memberships as (

    select * from {{ ref('fct_segment_memberships') }}

),

member_counts as (

    select
        segment_id,
        count(*) as member_count
    from memberships
    group by segment_id

),

final as (

    select
        catalogue.segment_id,
        catalogue.name,
        catalogue.description,
        catalogue.kind,
        catalogue.dimension,
        catalogue.definition,
        cast(coalesce(member_counts.member_count, 0) as bigint) as member_count,
        {{ as_of_date() }} as as_of_date
    from catalogue
    left join member_counts
        on catalogue.segment_id = member_counts.segment_id

)

select * from final
