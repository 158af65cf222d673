{{ config(materialized='view', schema='ml_features', tags=['ml']) }}
{#- Features as of the as-of date: what the champions score. -#}
select * exclude (is_scoring)
from {{ ref('ml_features_at_cutoffs') }}
where is_scoring
