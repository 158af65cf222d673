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
        {%- set new_collection = text_to_boolean('cast(is_new_collection as ' ~ string_type() ~ ')') %}
        coalesce({{ new_collection }}, false) as is_new_collection,
        try_cast(collection_launch_date as date) as collection_launch_date,
        try_cast(list_price as double) as list_price_eur,
        filename as source_file,
        -- values given but unreadable are rejected, never read as "no", "no date" or "no price"
        case
            when {{ unreadable('is_new_collection', new_collection) }} then 'invalid_is_new_collection'
            when {{ unreadable('collection_launch_date', 'try_cast(collection_launch_date as date)') }}
                then 'invalid_collection_launch_date'
            when {{ unreadable('list_price', 'try_cast(list_price as double)') }} then 'invalid_list_price'
        end as value_rejection
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
            else value_rejection
        end as rejection_reason
    from ranked

)

select {{ star_except('final', ['value_rejection']) }} from final
