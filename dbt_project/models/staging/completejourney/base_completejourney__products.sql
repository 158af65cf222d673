{{ config(enabled='completejourney' in var('contracts', {}).values(), materialized="table") }}  -- the one scan of the raw file
-- Every product row, typed, with the reason it cannot be used (null = usable).
with

source as (

    select * from {{ source('completejourney', 'products') }}

),

typed as (

    select
        cast(product_id as {{ string_type() }}) as product_id,
        nullif(trim(product_type), '') as product_type,
        nullif(lower(trim(department)), '') as department,
        nullif(lower(trim(product_category)), '') as category,
        nullif(trim(brand), '') as brand,
        filename as source_file
    from source

),

ranked as (

    select
        *,
        row_number() over (partition by product_id order by source_file) as product_rank
    from typed

),

final as (

    select
        *,
        case
            when product_id is null then 'missing_product_id'
            when product_rank > 1 then 'duplicate_product_id'
            when department is null then 'missing_department'
            {%- if var('departments', none) %}
            when department not in ({% for d in var('departments') %}'{{ d | replace("'", "''") }}'{{ ", " if not loop.last }}{% endfor %})
                then 'invalid_department'
            {%- endif %}
        end as rejection_reason
    from ranked

)

select {{ star_except('final', ['product_rank']) }} from final
