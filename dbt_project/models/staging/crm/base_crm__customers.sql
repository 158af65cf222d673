{{ config(materialized="table") }}  -- the one scan of the raw files: stg_ views, tests and quarantine read this table
-- Every CRM customer row, typed, with the reason it cannot be used (null = usable).
with

source as (

    select * from {{ source('crm', 'customers') }}

),

typed as (

    select
        upper(trim(customer_id)) as customer_id,
        {{ normalize_email('email') }} as email_normalized,
        {{ normalize_phone('phone') }} as phone,
        nullif(trim(first_name), '') as first_name,
        nullif(trim(last_name), '') as last_name,
        try_cast(trim(birth_date) as date) as birth_date,
        case
            when lower(trim(gender)) in ('f', 'female', 'w', 'woman', 'kvinna') then 'female'
            when lower(trim(gender)) in ('m', 'male', 'man') then 'male'
            else 'unknown'
        end as gender,
        upper(nullif(trim(country), '')) as country,
        nullif(trim(city), '') as city,
        try_cast(trim(signup_date) as date) as signup_date,
        coalesce({{ text_to_boolean('is_test_account') }}, false) as is_test_account,
        try_cast(trim(updated_at) as timestamp) as updated_at,
        filename as source_file,
        -- a full-row fingerprint: two rows with the same one are exact duplicates
        md5(concat_ws('|', customer_id, email, phone, first_name, last_name, birth_date, gender,
            country, city, signup_date, is_test_account, updated_at)) as row_fingerprint
    from source

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
            when customer_id is null or not regexp_matches(customer_id, '^C[0-9]+$') then 'invalid_customer_id'
            when duplicate_rank > 1 then 'duplicate_row'
        end as rejection_reason
    from ranked

)

select * from final
