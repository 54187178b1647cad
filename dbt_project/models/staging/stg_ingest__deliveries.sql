-- Every delivered file with its effective status; `is_current` marks the files whose rows
-- count. With var max_file_id (a past publication's), the warehouse is seen as it was then:
-- later files do not exist yet, and supersede nothing. The status comes from the one
-- definition of it, ingest.delivery_status_as_of (include/warehouse/schema.py).
{%- set max_file_id = var('max_file_id', none) %}
{%- set deliveries = source('ingest', 'file_deliveries') %}
select
    deliveries.file_id,
    deliveries.source_code,
    deliveries.file_name,
    deliveries.as_of_date,
    deliveries.delivery_no,
    deliveries.sha256,
    deliveries.bytes,
    deliveries.arrived_at,
    deliveries.rows_read,
    deliveries.rows_loaded,
    deliveries.rows_quarantined,
    deliveries.rows_duplicate,
    deliveries.rows_warned,
    status_then.effective_status,
    status_then.effective_status = 'loaded' as is_current,
    deliveries.reason,
    deliveries.started_at,
    deliveries.finished_at
from {{ deliveries }} as deliveries
inner join {{ adapter.quote(deliveries.schema) }}.delivery_status_as_of(
    {{ max_file_id if max_file_id is not none else 'null' }}
) as status_then on status_then.file_id = deliveries.file_id
