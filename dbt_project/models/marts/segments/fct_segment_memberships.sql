{#
    One row per customer and segment they belong to today. One pass over dim_customers computes each
    dimension's level (a `case`, first matching level wins) and each custom/predictive flag; dimension and
    cross-product memberships are then the level columns concatenated into segment ids, so 500 segments
    cost a few expressions per customer rather than 500 filters over the wide profile.
#}
{%- set library = segment_library() -%}
{%- set columns = ['customer_id'] -%}
{%- for dimension in segment_dimensions(library) -%}
    {%- do columns.append(segment_level_case(dimension.levels) ~ ' as ' ~ segment_level_column(dimension.id)) -%}
{%- endfor -%}
{%- for segment in segment_flag_segments(library) -%}
    {%- do columns.append('coalesce(' ~ segment_condition_sql(segment['where']) ~ ', false) as ' ~ segment_flag_column(segment.id)) -%}
{%- endfor -%}

with customers as (

    select * from {{ ref('dim_customers') }}

),

customer_levels as {{ segment_materialized_cte() }} (

    select
        {{ columns | join(',\n        ') }}
    from customers

),

memberships as (

    {{ segment_memberships_sql(segment_membership_rules(library), 'customer_levels') }}

),

final as (

    select
        customer_id,
        segment_id,
        {{ as_of_date() }} as as_of_date
    from memberships

)

select * from final
