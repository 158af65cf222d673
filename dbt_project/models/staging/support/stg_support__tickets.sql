{{ config(enabled=provides_contract('stg_support__tickets', 'generated')) }}  -- a staging contract: README "Bring your own data"
with

tickets as (

    select * from {{ ref('base_support__tickets') }}
    where rejection_reason is null

),

final as (

    select
        ticket_id,
        customer_id,
        created_at,
        category,
        status,
        -- scores outside 1-5 are treated as not given
        case when satisfaction_score between 1 and 5 then satisfaction_score end as satisfaction_score
    from tickets

)

select * from final
