{{ config(enabled=provides_contract('stg_crm__customers', 'generated'), materialized="table") }}  -- de-duplication and regex validation once; seven tests and two models read it
-- One row per CRM customer: its latest version, cleaned; erased customers flagged with PII removed.
with

customers as (

    select * from {{ ref('base_crm__customers') }}
    where rejection_reason is null

),

erasures as (

    select * from {{ ref('stg_crm__erasure_requests') }}

),

latest as (

    select
        *,
        row_number() over (
            partition by customer_id order by updated_at desc nulls last, source_file desc, row_fingerprint
        ) as latest_rank
    from customers

),

final as (

    select
        latest.customer_id,
        case
            when erasures.customer_id is null and {{ is_valid_email('latest.email_normalized') }}
                then latest.email_normalized
        end as email,
        erasures.customer_id is null and {{ is_valid_email('latest.email_normalized') }} as is_email_valid,
        case when erasures.customer_id is null then latest.phone end as phone,
        erasures.customer_id is null and {{ is_valid_phone('latest.phone') }} as is_phone_valid,
        case when erasures.customer_id is null then latest.first_name end as first_name,
        case when erasures.customer_id is null then latest.last_name end as last_name,
        case
            when erasures.customer_id is null
                and latest.birth_date between cast('1900-01-01' as date) and latest.signup_date
                then latest.birth_date
        end as birth_date,
        latest.gender,
        latest.country,
        case when erasures.customer_id is null then latest.city end as city,
        latest.signup_date,
        latest.is_test_account,
        erasures.customer_id is not null as is_erased,
        erasures.requested_at as erasure_requested_at,
        latest.updated_at
    from latest
    left join erasures on latest.customer_id = erasures.customer_id
    where latest.latest_rank = 1

)

select * from final
