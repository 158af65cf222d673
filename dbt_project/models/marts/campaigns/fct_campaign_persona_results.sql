-- Public: one row per closed launch and persona: where the campaign worked, did nothing, or harmed.
with

personas as (

    select * from {{ source('ops', 'campaign_persona_results') }}

),

final as (

    select
        campaign_id,
        launch_id,
        persona_id,
        persona_definition,
        test_customers,
        control_customers,
        uplift,
        uplift_ci_low,
        uplift_ci_high,
        uplift_ci_level,
        p_value,
        p_value_adjusted,
        incremental_revenue,
        verdict,
        recommendation,
        uplift_mde,
        test_buyers,
        control_buyers,
        persona_method,
        closed_at
    from personas

)

select * from final
