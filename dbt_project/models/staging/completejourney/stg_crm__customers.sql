{{ config(enabled=provides_contract('stg_crm__customers', 'completejourney'), materialized="table") }}  -- a staging contract: README "Bring your own data"
-- One customer per household that shopped. The data set has no contact data, names, birth dates or gender, and
-- no sign-up date: the household's first basket is the first day the store knew it (signup_date).
with

transactions as (

    select * from {{ ref('base_completejourney__transactions') }}
    where customer_id is not null and {{ is_valid_customer_id('customer_id') }}

),

households as (

    select
        customer_id,
        cast(min(ordered_at) as date) as first_basket_date
    from transactions
    group by customer_id

),

final as (

    select
        customer_id,
        cast(null as {{ string_type() }}) as email,
        false as is_email_valid,
        cast(null as {{ string_type() }}) as phone,
        false as is_phone_valid,
        cast(null as {{ string_type() }}) as first_name,
        cast(null as {{ string_type() }}) as last_name,
        cast(null as date) as birth_date,
        'unknown' as gender,
        'US' as country,
        cast(null as {{ string_type() }}) as city,
        first_basket_date as signup_date,
        false as is_test_account,
        false as is_erased,
        cast(null as timestamp) as erasure_requested_at,
        cast(first_basket_date as timestamp) as updated_at
    from households

)

select * from final
