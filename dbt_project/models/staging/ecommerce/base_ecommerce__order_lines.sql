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
        try_cast(source.quantity as integer) as quantity,
        try_cast(source.list_price_local as double) as list_price_local,
        try_cast(source.paid_price_local as double) as paid_price_local,
        coalesce(try_cast(source.is_returned as boolean), false) as is_returned,
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
            when quantity is null or quantity <= 0 then 'invalid_quantity'
            when paid_price_local is null or paid_price_local < 0
                or list_price_local is null or list_price_local < 0 then 'invalid_price'
        end as rejection_reason
    from typed

)

select {{ star_except('final', ['line_rank']) }} from final
