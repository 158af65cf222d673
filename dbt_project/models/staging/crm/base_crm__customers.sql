{{ config(materialized="table") }}  -- the one scan of the raw files: stg_ views, tests and quarantine read this table
-- Every CRM customer row, typed, with the reason it cannot be used (null = usable).
{#- an erased customer's rows keep what the de-duplication and the quarantine count need, no personal data -#}
{%- set kept = "erasures.customer_id is null" %}
with

source as (

    select * from {{ raw_source('crm', 'customers') }}

),

erasures as (

    select customer_id from {{ ref('stg_crm__erasure_requests') }}

),

typed as (

    select
        upper(trim(source.customer_id)) as customer_id,
        case when {{ kept }} then {{ normalize_email('source.email') }} end as email_normalized,
        case when {{ kept }} then {{ normalize_phone('source.phone') }} end as phone,
        case when {{ kept }} then nullif(trim(source.first_name), '') end as first_name,
        case when {{ kept }} then nullif(trim(source.last_name), '') end as last_name,
        case when {{ kept }} then try_cast(trim(source.birth_date) as date) end as birth_date,
        case
            when lower(trim(source.gender)) in ('f', 'female', 'w', 'woman', 'kvinna') then 'female'
            when lower(trim(source.gender)) in ('m', 'male', 'man') then 'male'
            else 'unknown'
        end as gender,
        upper(nullif(trim(source.country), '')) as country,
        case when {{ kept }} then nullif(trim(source.city), '') end as city,
        try_cast(trim(source.signup_date) as date) as signup_date,
        {{ text_to_boolean('source.is_test_account') }} as is_test_account,
        try_cast(trim(source.updated_at) as timestamp) as updated_at,
        source.filename as source_file,
        -- a full-row fingerprint: two rows with the same one are exact duplicates (a one-way hash, also kept for
        -- erased customers so their duplicates are still counted)
        md5(concat_ws('|', source.customer_id, source.email, source.phone, source.first_name, source.last_name,
            source.birth_date, source.gender, source.country, source.city, source.signup_date,
            source.is_test_account, source.updated_at)) as row_fingerprint
    from source
    left join erasures on upper(trim(source.customer_id)) = erasures.customer_id

),

ranked as (

    select
        *,
        row_number() over (
            partition by row_fingerprint order by source_file
        ) as duplicate_rank
    from typed

),

final as (

    select
        *,
        case
            -- the id rule is the var customer_id_pattern (default: the generated retailer's C + digits)
            when customer_id is null or not {{ is_valid_customer_id('customer_id') }} then 'invalid_customer_id'
            when duplicate_rank > 1 then 'duplicate_row'
            -- "maybe" or empty: unknown whether it is a test account, so it must not reach a campaign
            when is_test_account is null then 'invalid_is_test_account'
        end as rejection_reason
    from ranked

)

select * from final
