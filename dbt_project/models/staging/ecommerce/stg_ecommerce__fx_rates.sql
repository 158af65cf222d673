with

rates as (

    select * from {{ ref('base_ecommerce__fx_rates') }}
    where rejection_reason is null

),

final as (

    select
        currency,
        rate_to_eur
    from rates

)

select * from final
