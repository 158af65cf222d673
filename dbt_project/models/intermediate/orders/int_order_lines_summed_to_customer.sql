{%- set enriched = ref('int_order_lines_enriched') -%}
{%- set lines, orders = ref('base_ecommerce__order_lines'), ref('base_ecommerce__orders') -%}
{{ derived_incremental_config(['stg_ecommerce__order_lines', 'stg_ecommerce__orders'], dirty_key='customer_id') }}
-- a daily build recomputes only the customers of changed orders and of the days the as-of date moved over
-- What each customer buys (units before the as-of date): department shares, discount and new-collection habits.
-- Departments are those the products have (or the sources file's list); the six share_ columns are the
-- dim_customers contract's (the generated retailer's departments, 0 when the data has no such department).
{%- set share_departments = ['women', 'men', 'shoes', 'kids', 'home', 'beauty'] %}
{%- set quoted_departments = [] %}
{%- for department in share_departments %}{% do quoted_departments.append("'" ~ department ~ "'") %}{% endfor %}
{%- set department_position = array_position_of(array_literal(quoted_departments), 'department') %}
{%- set mode = prepare_dirty_keys(
    inputs=order_inputs(enriched, as_of=true),
    fingerprint=upstream_fingerprint(enriched),
    dirty=customers_of_changed_orders(lines, orders, enriched),
    removable=['customers', 'as_of_date'],
    rewritable=['ecommerce/orders'],
) %}
with

order_lines as (

    select * from {{ enriched }}
    where order_date < {{ as_of_date() }} and {{ dirty_keys_only('customer_id', mode) }}

),

by_department as (

    select customer_id, department, sum(quantity) as units
    from order_lines
    where department is not null
    group by customer_id, department

),

departments as (

    -- the department with the most units; ties go to the first of the share columns' list, then alphabetical
    select
        customer_id,
        count(*) as departments_bought_count,
        {{ arg_max_by('department', ['units', '-coalesce(' ~ department_position ~ ', 99)']) }}
            as top_department
    from by_department
    group by customer_id

),

summed as (

    select
        customer_id,
        sum(quantity) as units,
        {%- for department in share_departments %}
        sum(case when department = '{{ department }}' then quantity else 0 end) as units_{{ department }},
        {%- endfor %}
        sum(case when is_discounted then quantity else 0 end) as units_discounted,
        sum(case when is_new_collection then quantity else 0 end) as units_new_collection
    from order_lines
    group by customer_id

),

final as (

    select
        summed.customer_id,
        coalesce(departments.departments_bought_count, 0) as departments_bought_count,
        {%- for department in share_departments %}
        {{ round_double('cast(summed.units_' ~ department ~ ' as double) / summed.units', 4) }} as share_{{ department }},
        {%- endfor %}
        {{ round_double('cast(summed.units_discounted as double) / summed.units', 4) }} as discount_share,
        {{ round_double('cast(summed.units_new_collection as double) / summed.units', 4) }} as new_collection_share,
        departments.top_department,
        {{ affinity_level(round_double('cast(summed.units_discounted as double) / summed.units', 4)) }} as discount_affinity,
        {{ affinity_level(round_double('cast(summed.units_new_collection as double) / summed.units', 4)) }}
            as new_collection_affinity
    from summed
    left join departments on summed.customer_id = departments.customer_id

)

select * from final
