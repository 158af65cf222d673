with

scores as (

    select * from {{ source('ops', 'model_scores') }}

),

final as (

    select
        customer_id,
        model,
        model_version,
        score,
        decile,
        scoring_date,
        scored_at
    from scores

)

select * from final
