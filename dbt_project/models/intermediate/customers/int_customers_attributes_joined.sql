-- Who the customer is: identity, contact flags, demographics at the as-of date, loyalty and consent now.
{%- set age -%}
        {{ dbt.datediff('customers.birth_date', as_of_date(), 'year') }}
            - case
                when extract(month from customers.birth_date) * 100 + extract(day from customers.birth_date)
                    > extract(month from {{ as_of_date() }}) * 100 + extract(day from {{ as_of_date() }})
                    then 1 else 0
            end
{%- endset %}
with

customers as (

    select * from {{ ref('int_customers_resolved') }}

),

members as (

    select * from {{ ref('stg_loyalty__members') }}

),

consents as (

    select * from {{ ref('int_consents_pivoted_to_customer') }}

),

final as (

    select
        customers.customer_id,
        customers.email,
        customers.is_email_valid,
        customers.is_phone_valid,
        customers.gender,
        -- whole years: the year difference, minus one when the birthday is still to come this year
        {{ datediff_bigint(age) }} as age,
        customers.country,
        customers.city,
        customers.signup_date,
        {{ datediff_bigint(days_before_as_of('customers.signup_date')) }} as tenure_days,
        customers.is_test_account,
        coalesce(members.tier, 'none') as loyalty_tier,
        coalesce(members.points_balance, 0) as loyalty_points,
        coalesce(consents.consent_email, false) as consent_email,
        coalesce(consents.consent_sms, false) as consent_sms,
        coalesce(consents.consent_push, false) as consent_push
    from customers
    left join members on customers.customer_id = members.customer_id
    left join consents on customers.customer_id = consents.customer_id

)

select * from final
