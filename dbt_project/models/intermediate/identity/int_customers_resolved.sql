-- The customer base of every profile: one row per CRM customer that was not erased.
with

customers as (

    select * from {{ ref('stg_crm__customers') }}

),

final as (

    select
        customer_id,
        email,
        is_email_valid,
        phone,
        is_phone_valid,
        first_name,
        last_name,
        birth_date,
        gender,
        country,
        city,
        signup_date,
        is_test_account,
        updated_at
    from customers
    where not is_erased

)

select * from final
