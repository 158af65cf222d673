-- Public: one row per closed launch and metric (revenue, conversion): test vs control uplift with its interval.
with

results as (

    select * from {{ source('ops', 'campaign_results') }}

),

final as (

    select
        campaign_id,
        launch_id,
        metric,
        launch_date,
        window_end,
        test_customers,
        control_customers,
        test_response_rate,
        control_response_rate,
        test_revenue_per_customer,
        control_revenue_per_customer,
        uplift,
        uplift_ci_low,
        uplift_ci_high,
        p_value,
        incremental_revenue,
        cost,
        offer_cost,
        offer_cost_ci_low,
        offer_cost_ci_high,
        margin,
        roi,
        -- a caveat (too few buyers, Welch and bootstrap disagree) makes the result inconclusive whatever the interval
        (uplift_ci_low > 0 or uplift_ci_high < 0) and notes is null as is_significant,
        method,
        notes,
        closed_at
    from results

)

select * from final
