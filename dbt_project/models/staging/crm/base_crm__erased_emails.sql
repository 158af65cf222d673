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

    {{ erased_email_addresses('source', 'erasures') }}  -- the same rule base_email__events' post-hook applies to loaded events

)

select * from final
