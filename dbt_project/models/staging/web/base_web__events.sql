{{ config(
    materialized=event_base_materialization(),
    incremental_strategy="append_new_files",
    on_schema_change="fail",
    meta={"supersede": {"key": "event_id", "keep": "first_file", "duplicate": "duplicate_event_id", "key_rejections": ["missing_event_id"]}},
    pre_hook="{{ part_files_before_load('web', 'events') }}",
    post_hook="{{ part_files_after_load('web', 'events') }}",
) }}  -- a daily build appends the new part files' rows (macros/incremental.sql); stg_ views, tests and quarantine read this table
-- Every web event row, typed, with the reason it cannot be used (null = usable).
-- Only the rows whose id repeats (about 0.5 %) are ranked: macro repeated_rows_ranked.
with

source as {{ cte_not_materialized() }} (

    select
        *,
        try_cast(event_id as bigint) as event_key
    from {{ raw_source('web', 'events') }}
    where {{ only_new_part_files('web', 'events') }}

),

repeated_rows_ranked as (

    {{ repeated_rows_ranked('source', 'event_key', 'filename, file_row_number') }}

),

typed as (

    select
        source.event_key as event_id,
        nullif(trim(cast(source.cookie_id as {{ string_type() }})), '') as cookie_id,
        upper(nullif(trim(cast(source.customer_id as {{ string_type() }})), '')) as customer_id,
        lower(trim(cast(source.event_type as {{ string_type() }}))) as event_type,
        try_cast(source.event_at as timestamp) as event_at,
        nullif(trim(cast(source.product_id as {{ string_type() }})), '') as product_id,
        lower(nullif(trim(cast(source.category as {{ string_type() }})), '')) as category,
        lower(nullif(trim(cast(source.department as {{ string_type() }})), '')) as department,
        lower(nullif(trim(cast(source.device as {{ string_type() }})), '')) as device,
        source.filename as source_file,
        coalesce(repeated_rows_ranked.row_rank, 1) as event_rank
    from source
    left join repeated_rows_ranked
        on source.event_key = repeated_rows_ranked.event_key
        and source.filename = repeated_rows_ranked.filename
        and source.file_row_number = repeated_rows_ranked.file_row_number

),

final as (

    select
        *,
        case
            when event_id is null then 'missing_event_id'
            when event_rank > 1 then 'duplicate_event_id'
            when cookie_id is null then 'missing_cookie_id'
            when event_at is null then 'invalid_event_at'
            when event_type not in (
                'session_start', 'page_view', 'category_view', 'product_view', 'add_to_cart', 'login'
            ) or event_type is null then 'invalid_event_type'
        end as rejection_reason
    from typed

)

select {{ star_except('final', ['event_rank']) }} from final
