{{ config(
    materialized=event_base_materialization(),
    incremental_strategy="append_new_files",
    on_schema_change="sync_all_columns",
    meta={
        "supersede": {"key": "row_fingerprint", "keep": "first_file", "duplicate": "duplicate_row",
            "key_rejections": ["invalid_customer_id"]},
        "erased_customer_columns": ["email_normalized", "phone", "first_name", "last_name", "birth_date", "city"],
    },
    pre_hook="{{ part_files_before_load('crm', 'customers') }}",
    post_hook=["{{ part_files_after_load('crm', 'customers') }}", "{{ forget_erased_customers() }}"],
) }}  -- a daily build appends the new part files' rows, or reloads them all (macros/incremental.sql); stg_ views, tests and quarantine read this table
-- Every CRM customer row, typed, with the reason it cannot be used (null = usable).
{#- an erased customer's rows keep what the de-duplication and the quarantine count need, no personal data
    (meta erased_customer_columns; the post-hook blanks rows loaded before their customer's erasure) -#}
{%- set kept = "erasures.customer_id is null" %}
with

source as (

    select * from {{ raw_source('crm', 'customers') }}
    where {{ only_new_part_files('crm', 'customers', reload_when="''") }}

),

erasures as (

    select customer_id from {{ ref('stg_crm__erasure_requests') }}

),

typed as (

    select
        upper(trim(source.customer_id)) as customer_id,
        {{ unless_erased('email_normalized', normalize_email('source.email'), kept) }},
        {{ unless_erased('phone', normalize_phone('source.phone'), kept) }},
        {{ unless_erased('first_name', "nullif(trim(source.first_name), '')", kept) }},
        {{ unless_erased('last_name', "nullif(trim(source.last_name), '')", kept) }},
        {{ unless_erased('birth_date', "try_cast(trim(source.birth_date) as date)", kept) }},
        case
            when lower(trim(source.gender)) in ('f', 'female', 'w', 'woman', 'kvinna') then 'female'
            when lower(trim(source.gender)) in ('m', 'male', 'man') then 'male'
            else 'unknown'
        end as gender,
        upper(nullif(trim(source.country), '')) as country,
        {{ unless_erased('city', "nullif(trim(source.city), '')", kept) }},
        try_cast(trim(source.signup_date) as date) as signup_date,
        {{ text_to_boolean('source.is_test_account') }} as is_test_account,
        {{ to_utc_timestamp('source.updated_at') }} as updated_at,
        source.filename as source_file,
        -- a date given but unreadable rejects the row, never becomes "no date"
        {{ unreadable('source.signup_date', 'try_cast(trim(source.signup_date) as date)') }}
            as is_signup_date_unreadable,
        {{ unreadable('source.birth_date', 'try_cast(trim(source.birth_date) as date)') }}
            as is_birth_date_unreadable,
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
            when is_signup_date_unreadable then 'invalid_signup_date'
            when is_birth_date_unreadable then 'invalid_birth_date'
        end as rejection_reason
    from ranked

)

-- the rank is among the rows this build read (a daily build: the new files'); the table keeps the reason only
select {{ star_except('final', ['duplicate_rank', 'is_signup_date_unreadable', 'is_birth_date_unreadable']) }} from final
