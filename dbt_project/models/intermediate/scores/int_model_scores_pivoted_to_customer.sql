-- The latest score and decile of each production model as columns, one row per scored customer.
{%- set models = ['purchase_14d', 'churn_60d', 'value_90d'] %}
with

scores as (

    select * from {{ ref('int_model_scores_latest') }}

),

final as (

    select
        customer_id,
        {%- for m in models %}
        max(case when model = '{{ m }}' then score end) as {{ m }}_score,
        max(case when model = '{{ m }}' then decile end) as {{ m }}_decile{% if not loop.last %},{% endif %}
        {%- endfor %}
    from scores
    group by customer_id

)

select * from final
