{{ config(enabled='completejourney' in var('contracts', {}).values()) }}
-- A household redeemed one of a campaign's coupons (the campaign's response), one row per redemption.
with

redemptions as (

    select * from {{ source('completejourney', 'coupon_redemptions') }}

),

final as (

    select
        cast(household_id as {{ string_type() }}) as customer_id,
        cast(campaign_id as {{ string_type() }}) as campaign_id,
        cast(coupon_upc as {{ string_type() }}) as coupon_upc,
        cast(redemption_date as date) as redeemed_on
    from redemptions

)

select * from final
