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
left join {{ ref('int_source_schedules') }} as catalog_units using (source_code)
