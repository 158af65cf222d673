{{ config(materialized="table") }}  -- the one scan of the raw files: stg_ views, tests and quarantine read this table
-- Every fx rate row, typed, with the reason it cannot be used (null = usable).
with

source as (

    select * from {{ raw_source('ecommerce', 'fx_rates') }}

),

typed as (

    select
        upper(trim(currency)) as currency,
        try_cast(trim(rate_to_eur) as double) as rate_to_eur,
        filename as source_file
    from source

),

ranked as (

    select
        *,
        row_number() over (partition by currency order by source_file desc) as currency_rank
    from typed

),

final as (

    select
        *,
        case
            when currency is null then 'missing_currency'
            when rate_to_eur is null or rate_to_eur <= 0 then 'invalid_rate'
            when currency_rank > 1 then 'duplicate_currency'
        end as rejection_reason
    from ranked

)

select * from final
