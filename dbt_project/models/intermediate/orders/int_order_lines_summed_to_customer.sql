-- What each customer buys (units before the as-of date): department shares, discount and new-collection habits.
{%- set departments = ['women', 'men', 'shoes', 'kids', 'home', 'beauty'] %}
with

order_lines as (

    select * from {{ ref('int_order_lines_enriched') }}
    where order_date < {{ as_of_date() }}

),

summed as (

    select
        customer_id,
        sum(quantity) as units,
        {%- for department in departments %}
        sum(case when department = '{{ department }}' then quantity else 0 end) as units_{{ department }},
        {%- endfor %}
        sum(case when is_discounted then quantity else 0 end) as units_discounted,
        sum(case when is_new_collection then quantity else 0 end) as units_new_collection,
        -- the six departments are an accepted_values test on int_order_lines_enriched
        {% for department in departments %}(sum(case when department = '{{ department }}' then 1 else 0 end) > 0)::bigint
            {%- if not loop.last %} + {% endif %}{% endfor %} as departments_bought_count
    from order_lines
    group by customer_id

),

shares as (

    select
        customer_id,
        departments_bought_count,
        {%- for department in departments %}
        round(cast(units_{{ department }} as double) / units, 4) as share_{{ department }},
        {%- endfor %}
        round(cast(units_discounted as double) / units, 4) as discount_share,
        round(cast(units_new_collection as double) / units, 4) as new_collection_share
    from summed

),

final as (

    select
        *,
        -- the department with the most units; ties go to the first in the list above
        case greatest({% for d in departments %}share_{{ d }}{% if not loop.last %}, {% endif %}{% endfor %})
            {%- for department in departments %}
            when share_{{ department }} then '{{ department }}'
            {%- endfor %}
        end as top_department,
        {{ affinity_level('discount_share') }} as discount_affinity,
        {{ affinity_level('new_collection_share') }} as new_collection_affinity
    from shares

)

select * from final
