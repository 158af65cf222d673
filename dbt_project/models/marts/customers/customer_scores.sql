-- Public: the latest score of every model per customer (ops.model_scores, written by `holdout score`).
with

scores as (

    select * from {{ ref('int_model_scores_latest') }}

),

customers as (

    select customer_id from {{ ref('int_customers_resolved') }}

),

final as (

    select
        scores.customer_id,
        scores.model,
        scores.model_version,
        scores.score,
        scores.decile,
        scores.scored_at
    from scores
    inner join customers on scores.customer_id = customers.customer_id

)

select * from final
