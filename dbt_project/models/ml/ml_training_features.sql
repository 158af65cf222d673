{{ config(materialized='view', schema='ml_features', tags=['ml']) }}
{#- Features at the training and held-out cutoffs (before the as-of date). -#}
select * exclude (is_scoring)
from {{ ref('ml_features_at_cutoffs') }}
where not is_scoring
