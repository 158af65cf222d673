{{ config(
    materialized=event_base_materialization(),
    incremental_strategy="append_new_files",
    on_schema_change="fail",
    meta={"supersede": {"key": "order_line_id", "keep": "last_file", "duplicate": "duplicate_order_line_id",
        "key_rejections": ["missing_order_line_id"]}},
    pre_hook="{{ part_files_before_load('ecommerce', 'order_lines') }}",
    post_hook="{{ part_files_after_load('ecommerce', 'order_lines') }}",
) }}  -- a daily build appends the new part files' rows (macros/incremental.sql); stg_ views, tests and quarantine read this table
-- Every order line row, typed, with the reason it cannot be used (null = usable).
-- Only the lines whose id repeats are ranked (macro repeated_rows_ranked; the latest export wins).
with

source as {{ cte_not_materialized() }} (

    select
        *,
        trim(cast(order_line_id as {{ string_type() }})) as order_line_key
    from {{ raw_source('ecommerce', 'order_lines') }}
    where {{ only_new_part_files('ecommerce', 'order_lines') }}

),

repeated_rows_ranked as (

    {{ repeated_rows_ranked('source', 'order_line_key', 'filename desc, file_row_number desc') }}

),

typed as (

    select
        source.order_line_key as order_line_id,
        trim(cast(source.order_id as {{ string_type() }})) as order_id,
        nullif(trim(cast(source.product_id as {{ string_type() }})), '') as product_id,
        -- a whole number of items: a cast to integer would round "1.5" up and inflate the revenue
        try_cast(source.quantity as double) as quantity_number,
        try_cast(source.list_price_local as double) as list_price_local,
        try_cast(source.paid_price_local as double) as paid_price_local,
        {%- set returned = text_to_boolean('cast(source.is_returned as ' ~ string_type() ~ ')') %}
        -- an absent flag means not returned; a flag that is not a yes or a no is rejected, never read as a no
        coalesce({{ returned }}, false) as is_returned,
        {{ unreadable('source.is_returned', returned) }} as is_returned_unreadable,
        source.filename as source_file,
        coalesce(repeated_rows_ranked.row_rank, 1) as line_rank
    from source
    left join repeated_rows_ranked
        on source.order_line_key = repeated_rows_ranked.order_line_key
        and source.filename = repeated_rows_ranked.filename
        and source.file_row_number = repeated_rows_ranked.file_row_number

),

final as (

    select
        *,
        case
            when order_line_id is null or order_line_id = '' then 'missing_order_line_id'
            when line_rank > 1 then 'duplicate_order_line_id'
            when order_id is null or order_id = '' then 'missing_order_id'
            when quantity_number is null or quantity_number <= 0 or quantity_number <> floor(quantity_number)
                or try_cast(quantity_number as integer) is null then 'invalid_quantity'
            when paid_price_local is null or paid_price_local < 0
                or list_price_local is null or list_price_local < 0 then 'invalid_price'
            when is_returned_unreadable then 'invalid_is_returned'
        end as rejection_reason
    from typed

)

select
    order_line_id,
    order_id,
    product_id,
    try_cast(quantity_number as integer) as quantity,
    {{ star_except('final', ['order_line_id', 'order_id', 'product_id', 'quantity_number', 'is_returned_unreadable',
        'line_rank']) }}
from final
