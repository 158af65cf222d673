{{ config(enabled='completejourney' in var('contracts', {}).values()) }}
-- Who received each campaign (campaign receipt), one row per campaign and household.
with

campaigns as (

    select * from {{ source('completejourney', 'campaigns') }}

),

final as (

    select distinct
        cast(campaign_id as {{ string_type() }}) as campaign_id,
        cast(household_id as {{ string_type() }}) as customer_id
    from campaigns

)

select * from final
