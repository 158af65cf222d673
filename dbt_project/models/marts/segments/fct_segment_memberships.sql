{#
    One row per customer and segment they belong to today. holdout.segments compiles the library into SQL
    expressions that each yield a segment id or null (var segment_library, see macros/segments/):
    one pass over dim_customers computes each dimension's level and each custom/predictive segment, the
    cross-products are then `case`s over those level columns, so 500 segments cost a few expressions per
    customer rather than 500 filters over the wide profile.
#}
{%- set library = segment_library() -%}
{%- set columns = ['customer_id'] -%}
{%- for column in library.columns -%}
    {%- do columns.append(column.sql ~ ' as ' ~ segment_column(column.name)) -%}
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

    {{ segment_memberships_sql(segment_membership_expressions(library), 'customer_levels') }}

),

final as (

    select
        customer_id,
        segment_id,
        {{ as_of_date() }} as as_of_date
    from memberships

)

select * from final
