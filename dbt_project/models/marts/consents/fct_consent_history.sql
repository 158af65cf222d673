-- Public: consent state periods per customer and channel (SCD2 from event times; valid_to null = current).
with

periods as (

    select * from {{ ref('int_consent_periods') }}

),

final as (

    select
        customer_id,
        channel,
        is_opted_in,
        valid_from,
        valid_to
    from periods

)

select * from final
