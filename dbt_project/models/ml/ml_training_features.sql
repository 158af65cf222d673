{{ config(materialized='view', schema='ml_features', tags=['ml']) }}
{#- Features at the training and held-out cutoffs (before the as-of date). -#}
select {{ star_except('features', ['is_scoring']) }}
from {{ ref('ml_features_at_cutoffs') }} as features
where not is_scoring
