{{ config(enabled=provides_contract('stg_loyalty__members', 'generated')) }}  -- a staging contract: README "Bring your own data"
-- One row per member: the latest valid version (a version with an unreadable balance is quarantined).
with

members as (

    select * from {{ ref('base_loyalty__members') }}
    where rejection_reason is null

),

latest as (

    select
        *,
        row_number() over (
            partition by customer_id order by updated_at desc nulls last, source_file desc
        ) as latest_rank
    from members

),

final as (

    select
        customer_id,
        tier,
        points_balance,
        enrolled_at,
        updated_at
    from latest
    where latest_rank = 1

)

select * from final
