-- One row per landing-zone entity (`<system>/<entity>` folder) and whether this build found part files in it (an
-- entity without any builds as empty: var absent_sources, holdout.sources). The next daily build reads the live
-- table to refuse an entity that had part files and has none now (holdout.landing.check_no_source_dropped).
{{ config(materialized='table') }}

{%- set absent = var('absent_sources', []) %}
{%- for entity in var('landing_entities', []) %}
select {{ text_literal(entity) }} as entity, {{ 'false' if entity in absent else 'true' }} as has_part_files
{%- if not loop.last %}
union all
{%- endif %}
{%- else %}
select cast(null as {{ dbt.type_string() }}) as entity, cast(null as boolean) as has_part_files where 1 = 0
{%- endfor %}
