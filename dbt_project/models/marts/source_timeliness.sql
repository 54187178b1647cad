-- 报送及时性: for every source and period it was due, whether its extract arrived on time,
-- late (with days) or is missing.
select
    timeliness.source_code,
    catalog_units.unit_zh as delivering_unit,
    timeliness.period_type,
    timeliness.period_start,
    timeliness.period_end,
    timeliness.due_date,
    timeliness.first_arrived_at,
    timeliness.status,
    timeliness.days_late
from {{ ref('int_source_timeliness') }} as timeliness
left join (
    values
    {%- for node in graph.sources.values() if node.source_name != 'ingest' %}
        ('{{ node.name }}', '{{ node.meta.unit_zh }}'){{ ',' if not loop.last }}
    {%- endfor %}
) as catalog_units (source_code, unit_zh) using (source_code)
