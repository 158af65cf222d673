-- The latest scoring run of each model (ops.model_scores keeps them all), one row per customer and model.
with

scores as (

    select * from {{ ref('stg_ops__model_scores') }}

),

latest_runs as (

    select model, max(scoring_date) as scoring_date
    from scores
    group by model

),

final as (

    select
        scores.customer_id,
        scores.model,
        scores.model_version,
        scores.score,
        scores.decile,
        scores.scoring_date,
        scores.scored_at
    from scores
    inner join latest_runs
        on scores.model = latest_runs.model and scores.scoring_date = latest_runs.scoring_date
    -- a run repeated on the same scoring date: the last one written wins
    qualify row_number() over (
        partition by scores.customer_id, scores.model order by scores.scored_at desc, scores.model_version desc
    ) = 1

)

select * from final
