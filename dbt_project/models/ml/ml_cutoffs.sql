{{ config(materialized='table', schema='ml_features', tags=['ml']) }}
{#-
    The dates features are computed as of. Training cutoffs come from `ml_cutoffs` (a list of YYYY-MM-DD passed by
    `ml.features`, macros/runtime_vars.sql); without it, a grid as_of - 14 - 28k (k < ml_cutoff_count) that holds
    every model's held-out and training cutoffs for horizons up to 90 days. The as-of date itself is the
    scoring cutoff.
-#}
{%- set explicit = runtime_var('ml_cutoffs') -%}
{%- set offset = var('ml_cutoff_offset_days', 14) -%}
{%- set step = var('ml_cutoff_step_days', 28) -%}

with training as (
    {%- if explicit %}
    {%- for cutoff in explicit %}
    select cast('{{ cutoff }}' as date) as cutoff_date
    {%- if not loop.last %} union all{% endif %}
    {%- endfor %}
    {%- else %}
    {%- for k in range(var('ml_cutoff_count', 10)) %}
    select cast({{ dbt.dateadd('day', -(offset + step * k), as_of_date()) }} as date) as cutoff_date
    {%- if not loop.last %} union all{% endif %}
    {%- endfor %}
    {%- endif %}
),

final as (
    select distinct
        cutoff_date,
        false as is_scoring
    from training
    where cutoff_date < {{ as_of_date() }}
    union all
    select
        {{ as_of_date() }} as cutoff_date,
        true as is_scoring
)

select * from final
