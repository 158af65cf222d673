{{ config(materialized="table") }}  -- the one scan of the raw files: stg_ views, tests and quarantine read this table
-- Every product row, typed, with the reason it cannot be used (null = usable).
with

source as (

    select * from {{ raw_source('ecommerce', 'products') }}

),

typed as (

    select
        trim(cast(product_id as {{ string_type() }})) as product_id,
        nullif(trim(cast(product_name as {{ string_type() }})), '') as product_name,
        lower(trim(cast(department as {{ string_type() }}))) as department,
        lower(trim(cast(category as {{ string_type() }}))) as category,
        coalesce(try_cast(is_new_collection as boolean), false) as is_new_collection,
        try_cast(collection_launch_date as date) as collection_launch_date,
        try_cast(list_price as double) as list_price_eur,
        filename as source_file
    from source

),

ranked as (

    select
        *,
        row_number() over (partition by product_id order by source_file desc) as product_rank
    from typed

),

final as (

    select
        *,
        case
            when product_id is null or product_id = '' then 'missing_product_id'
            when product_rank > 1 then 'duplicate_product_id'
            when department is null or department = '' then 'missing_department'
            {%- if var('departments') %}
            -- a department list is configured (sources.yml `departments`); without one, any the products have
            when department not in ({% for d in var('departments') %}{{ text_literal(d) }}{{ ", " if not loop.last }}{% endfor %})
                then 'invalid_department'
            {%- endif %}
        end as rejection_reason
    from ranked

)

select * from final
