{{ config(enabled=provides_contract('stg_crm__erasure_requests', 'generated')) }}  -- a staging contract: README "Bring your own data"
-- One row per erased customer (first request wins; a repeated request changes nothing).
with

requests as (

    select * from {{ ref('base_crm__erasure_requests') }}
    where rejection_reason is null

),

final as (

    select
        customer_id,
        min(requested_at) as requested_at,
        count(*) as requests_count
    from requests
    group by customer_id

)

select * from final
