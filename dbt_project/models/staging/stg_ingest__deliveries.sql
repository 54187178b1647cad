-- Every delivered file with its effective status; `is_current` marks the files whose rows
-- count. With var max_file_id (a past publication's), the warehouse is seen as it was then:
-- later files do not exist yet, and supersede nothing.
{%- set max_file_id = var('max_file_id', none) %}
select
    file_id,
    source_code,
    file_name,
    as_of_date,
    delivery_no,
    sha256,
    bytes,
    arrived_at,
    rows_read,
    rows_loaded,
    rows_quarantined,
    rows_duplicate,
    rows_warned,
    status_then as effective_status,
    status_then = 'loaded' as is_current,
    reason,
    started_at,
    finished_at
from (
    select
        *,
        case
            when status = 'rejected' then 'rejected'
            {%- if max_file_id is not none %}
            when superseded_by_file_id <= {{ max_file_id }} then 'superseded'
            {%- else %}
            when superseded_by_file_id is not null then 'superseded'
            {%- endif %}
            else 'loaded'
        end as status_then
    from {{ source('ingest', 'file_deliveries') }}
    {%- if max_file_id is not none %}
    where file_id <= {{ max_file_id }}
    {%- endif %}
) as deliveries
