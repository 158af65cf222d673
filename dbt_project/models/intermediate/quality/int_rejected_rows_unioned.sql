-- Rows staging could not use (unparseable, invalid or duplicated), with the reason, from every source.
{%- set rejects = base_models() %}
with

{% for model, source_name, entity, key in rejects %}
{{ model }} as (

    select
        '{{ source_name }}' as source_name,
        '{{ entity }}' as entity,
        cast({{ key }} as {{ string_type() }}) as record_key,
        rejection_reason,
        source_file
    from {{ ref(model) }}
    where rejection_reason is not null

),

{% endfor %}
final as (

    {% for model, _, _, _ in rejects %}
    select * from {{ model }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select * from final
