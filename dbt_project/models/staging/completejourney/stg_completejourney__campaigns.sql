{{ config(enabled='completejourney' in var('contracts', {}).values()) }}
-- The 27 campaigns as historical campaigns: not launched by Holdout and NOT randomized (who received one was chosen
-- by the retailer). Read by `holdout campaign measure-historical`, never by the campaign ledgers.
with

descriptions as (

    select * from {{ source('completejourney', 'campaign_descriptions') }}

),

final as (

    select
        cast(campaign_id as {{ string_type() }}) as campaign_id,
        'Complete Journey campaign ' || cast(campaign_id as {{ string_type() }}) || ' (' || campaign_type || ')' as campaign_name,
        campaign_type,
        cast(start_date as date) as start_date,
        cast(end_date as date) as end_date
    from descriptions

)

select * from final
