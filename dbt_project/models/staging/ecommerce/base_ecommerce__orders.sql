{{ config(
    materialized=event_base_materialization(),
    incremental_strategy="append_new_files",
    on_schema_change="sync_all_columns",
    meta={"supersede": {"key": "order_id", "keep": "last_file", "order_first": [["loaded_at", "desc nulls last"]],
        "duplicate": "duplicate_order_id", "key_rejections": ["missing_order_id"]}},
    pre_hook="{{ part_files_before_load('ecommerce', 'orders') }}",
    post_hook="{{ part_files_after_load('ecommerce', 'orders') }}",
) }}  -- a daily build appends the new part files' rows, or reloads them all (macros/incremental.sql); stg_ views, tests and quarantine read this table
-- Every order header row, typed (ordered_at to UTC), with the reason it cannot be used (null = usable).
-- A row's rate and `unknown_currency` depend on the fx rates: when they (or the currency setting) change, the
-- daily build reloads every file (`reload_when`).
{%- set fx_rates = ref('stg_ecommerce__fx_rates') -%}
{%- set rates = "'" ~ var('currency') ~ "'" if var('currency') else "(select string_agg(currency || '=' || "
    ~ "cast(rate_to_eur as varchar), ',' order by currency) from " ~ fx_rates ~ ")" %}
with

source as (

    select * from {{ raw_source('ecommerce', 'orders') }}
    where {{ only_new_part_files('ecommerce', 'orders', reload_when=rates) }}

),

fx_rates as (

    select * from {{ fx_rates }}

),

typed as (

    select
        trim(cast(order_id as {{ string_type() }})) as order_id,
        upper(trim(cast(customer_id as {{ string_type() }}))) as customer_id,
        {{ to_utc_timestamp('ordered_at') }} as ordered_at,
        {%- if var('currency') %}
        coalesce(nullif(upper(trim(cast(currency as {{ string_type() }}))), ''), '{{ var("currency") }}') as currency,
        {%- else %}
        upper(trim(cast(currency as {{ string_type() }}))) as currency,
        {%- endif %}
        lower(trim(cast(sales_channel as {{ string_type() }}))) as sales_channel,
        lower(trim(cast(status as {{ string_type() }}))) as status,
        try_cast(_loaded_at as timestamp) as loaded_at,
        filename as source_file,
        file_row_number
    from source

),

ranked as (

    select
        typed.*,
        {%- if var('currency') %}
        -- every amount is in the one configured currency (sources.yml `currency`): no fx table, a rate of 1
        case when typed.currency = '{{ var("currency") }}' then 1.0 end as rate_to_eur,
        {%- else %}
        fx_rates.rate_to_eur,
        {%- endif %}
        -- a re-exported order (e.g. later cancelled) supersedes the earlier export; two exports in one file with
        -- the same time: the later row (a full and a daily build rank a file's rows alike)
        row_number() over (
            partition by typed.order_id
            order by typed.loaded_at desc nulls last, typed.source_file desc, typed.file_row_number desc
        ) as order_rank
    from typed
    left join fx_rates on typed.currency = fx_rates.currency

),

final as (

    select
        *,
        case
            when order_id is null or order_id = '' then 'missing_order_id'
            when order_rank > 1 then 'duplicate_order_id'
            when customer_id is null or customer_id = '' then 'missing_customer_id'
            when ordered_at is null then 'invalid_ordered_at'
            when rate_to_eur is null then 'unknown_currency'
            when status not in ('completed', 'cancelled') or status is null then 'invalid_status'
            when sales_channel not in ('web', 'app', 'store') or sales_channel is null
                then 'invalid_sales_channel'
        end as rejection_reason
    from ranked

)

-- the rank is among the rows this build read (a daily build: the new files'); the table keeps the reason only
select {{ star_except('final', ['order_rank', 'file_row_number']) }} from final
