-- Consent now (at the as-of date), one row per customer with any consent event; no event means false.
with

periods as (

    select * from {{ ref('int_consent_periods') }}
    where valid_to is null

),

final as (

    select
        customer_id,
        coalesce(max(case when channel = 'email' and is_opted_in then 1 end), 0) = 1 as consent_email,
        coalesce(max(case when channel = 'sms' and is_opted_in then 1 end), 0) = 1 as consent_sms,
        coalesce(max(case when channel = 'push' and is_opted_in then 1 end), 0) = 1 as consent_push
    from periods
    group by customer_id

)

select * from final
