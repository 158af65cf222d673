{{ config(materialized="table") }}  -- the one scan of the raw files: stg_ views, tests and quarantine read this table
-- Every order header row, typed (ordered_at to UTC), with the reason it cannot be used (null = usable).
with

source as (

    select * from {{ raw_source('ecommerce', 'orders') }}

),

fx_rates as (

    select * from {{ ref('stg_ecommerce__fx_rates') }}

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
        filename as source_file
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
        -- a re-exported order (e.g. later cancelled) supersedes the earlier export
        row_number() over (
            partition by typed.order_id order by typed.loaded_at desc nulls last, typed.source_file desc
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

select * from final
