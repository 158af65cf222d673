{{ config(enabled=provides_contract('stg_email__events', 'completejourney')) }}  -- a staging contract: README "Bring your own data"
-- The campaigns' engagement, keyed by household (customer_id; the households have no addresses): receiving a
-- campaign's mailer is a `send` on the campaign's start day, redeeming one of its coupons a `click` on that day.
-- campaign_code is the campaign id. The mailers were paper, not e-mail: nothing here is contact data.
with

campaigns as (

    select * from {{ ref('stg_completejourney__campaigns') }}

),

recipients as (

    select * from {{ ref('stg_completejourney__campaign_recipients') }}

),

redemptions as (

    select * from {{ ref('stg_completejourney__coupon_redemptions') }}

),

sends as (

    select
        recipients.customer_id,
        'send' as event_type,
        recipients.campaign_id as campaign_code,
        cast(campaigns.start_date as timestamp) as event_at,
        cast(null as {{ string_type() }}) as coupon_upc
    from recipients
    inner join campaigns on recipients.campaign_id = campaigns.campaign_id

),

clicks as (

    select
        customer_id,
        'click' as event_type,
        campaign_id as campaign_code,
        cast(redeemed_on as timestamp) as event_at,
        coupon_upc
    from redemptions

),

unioned as (

    select * from sends
    union all
    select * from clicks

),

final as (

    select
        -- a stable id: the data set has none, and a campaign is sent once and a coupon redeemed once a day per household
        row_number() over (order by event_type desc, campaign_code, customer_id, event_at, coupon_upc) as event_id,
        cast(null as {{ string_type() }}) as email,
        customer_id,
        event_type,
        campaign_code,
        event_at
    from unioned

)

select * from final
