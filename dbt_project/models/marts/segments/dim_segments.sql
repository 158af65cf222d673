{#
    Every segment of the library with its member count today. Dimension levels, custom and predictive
    segments come from the var; cross-product micro-segments are expanded here by crossing the levels
    of their dimensions (same ids, names and definitions as holdout.segments.Library.expand_cross).
#}
{%- set library = segment_library() -%}
{%- set rows = [] -%}
{%- for s in library.segments -%}
    {%- do rows.append('(' ~ [
        segment_literal(s.id), segment_literal(s.name), segment_literal(s.get('description')),
        segment_literal(s.kind), segment_literal(s.get('dimension')), segment_literal(s.get('level')),
        segment_literal(s.definition)
    ] | join(', ') ~ ')') -%}
{%- endfor -%}

with memberships as (

    select * from {{ ref('fct_segment_memberships') }}

),

listed as (

    {% if rows -%}
    select
        cast(segment_id as varchar) as segment_id,
        cast(segment_name as varchar) as segment_name,
        cast(description as varchar) as description,
        cast(kind as varchar) as kind,
        cast(dimension as varchar) as dimension,
        cast(level_id as varchar) as level_id,
        cast(definition as varchar) as definition
    from (values
        {{ rows | join(',\n        ') }}
    ) as library_segments (segment_id, segment_name, description, kind, dimension, level_id, definition)
    {%- else -%}
    select
        {% for c in ['segment_id', 'segment_name', 'description', 'kind', 'dimension', 'level_id', 'definition'] -%}
        cast(null as varchar) as {{ c }}{{ ',' if not loop.last }}
        {% endfor -%}
    where 1 = 0
    {%- endif %}

),

crossed as (

    {%- set selects = [] -%}
    {%- for cross in library.cross_products -%}
        {%- set ids = [segment_literal('x_' ~ cross.id)] -%}
        {%- set names = [] -%}
        {%- set definitions = [] -%}
        {%- set froms = [] -%}
        {%- set filters = [] -%}
        {%- for dimension_id in cross.dimensions -%}
            {%- set alias = 'd' ~ loop.index -%}
            {%- do ids.extend([segment_literal('__'), alias ~ '.level_id']) -%}
            {%- do names.extend(([] if loop.first else [segment_literal(' × ')]) + [alias ~ '.segment_name']) -%}
            {%- do definitions.extend([segment_literal(('(' if loop.first else ') and (')), alias ~ '.definition']) -%}
            {%- do froms.append('listed as ' ~ alias) -%}
            {%- set levels = [] -%}
            {%- for level in cross.levels[dimension_id] -%}{%- do levels.append(segment_literal(level)) -%}{%- endfor -%}
            {%- do filters.append(alias ~ ".kind = 'dimension' and " ~ alias ~ '.dimension = ' ~ segment_literal(dimension_id)
                ~ ' and ' ~ alias ~ '.level_id in (' ~ levels | join(', ') ~ ')') -%}
        {%- endfor -%}
        {%- do definitions.append(segment_literal(')')) -%}
        {%- do selects.append(
            'select ' ~ dbt.concat(ids) ~ ' as segment_id, ' ~ dbt.concat(names) ~ ' as segment_name, '
            ~ 'cast(' ~ segment_literal(cross.get('description')) ~ ' as varchar) as description, '
            ~ "'cross' as kind, " ~ segment_literal(cross.id) ~ ' as dimension, '
            ~ 'cast(null as varchar) as level_id, ' ~ dbt.concat(definitions) ~ ' as definition'
            ~ ' from ' ~ froms | join(' cross join ') ~ ' where ' ~ filters | join(' and ')
        ) -%}
    {%- endfor %}
    {{ segment_union_all(selects, [
        'cast(null as varchar) as segment_id', 'cast(null as varchar) as segment_name',
        'cast(null as varchar) as description', 'cast(null as varchar) as kind',
        'cast(null as varchar) as dimension', 'cast(null as varchar) as level_id',
        'cast(null as varchar) as definition'
    ]) }}

),

segments as (

    select * from listed
    union all
    select * from crossed

),

member_counts as (

    select
        segment_id,
        count(*) as member_count
    from memberships
    group by segment_id

),

final as (

    select
        segments.segment_id,
        segments.segment_name as name,
        segments.description,
        segments.kind,
        segments.dimension,
        segments.definition,
        cast(coalesce(member_counts.member_count, 0) as bigint) as member_count,
        {{ as_of_date() }} as as_of_date
    from segments
    left join member_counts
        on segments.segment_id = member_counts.segment_id

)

select * from final
