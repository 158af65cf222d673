-- Support contact per customer before the as-of date.
with

tickets as (

    select * from {{ ref('stg_support__tickets') }}
    where created_at < {{ as_of_date() }}

),

final as (

    select
        customer_id,
        count(case when {{ within_days_before_as_of('created_at', 90) }} then 1 end) as support_tickets_last_90d,
        {{ round_double('avg(satisfaction_score)', 2) }} as avg_satisfaction
    from tickets
    group by customer_id

)

select * from final
