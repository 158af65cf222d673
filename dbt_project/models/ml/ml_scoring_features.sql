{{ config(materialized='view', schema='ml_features', tags=['ml']) }}
{#- Features as of the as-of date: what the champions score. -#}
select {{ star_except('features', ['is_scoring']) }}
from {{ ref('ml_features_at_cutoffs') }} as features
where is_scoring
