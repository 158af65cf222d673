{{ config(materialized="ephemeral") }}  -- a CTE inside its readers: the addresses are never stored
-- The normalized e-mail addresses of every CRM version of an erased customer: the e-mail source knows only
-- addresses, so this is how its events are recognized as an erased customer's and stored without the address.
with

source as (

    select * from {{ raw_source('crm', 'customers') }}

),

erasures as (

    select * from {{ ref('stg_crm__erasure_requests') }}

),

final as (

    select distinct {{ normalize_email('source.email') }} as email
    from source
    inner join erasures on upper(trim(source.customer_id)) = erasures.customer_id
    where {{ normalize_email('source.email') }} is not null

)

select * from final
