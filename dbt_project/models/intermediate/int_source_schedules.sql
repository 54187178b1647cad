-- Each source's delivery cadence and deadline, as the source registry declares them
-- (carried into dbt in the sources' meta by include/transform/sources_yml.py).
{%- set schedules = [] %}
{%- for node in graph.sources.values() if node.schema == 'raw' %}
    {%- do schedules.append((node.name, node.meta.unit_zh, node.meta.cadence, node.meta.deadline_days)) %}
{%- endfor %}
select source_code, unit_zh, cadence, deadline_days
from (
    values
    {%- for code, unit, cadence, days in schedules | sort %}
        ('{{ code }}', '{{ unit }}', '{{ cadence }}', {{ days }}){{ ',' if not loop.last }}
    {%- endfor %}
) as schedule (source_code, unit_zh, cadence, deadline_days)
