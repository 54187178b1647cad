-- Every delivered file with its effective status; `is_current` marks the files whose rows count.
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
    effective_status,
    effective_status = 'loaded' as is_current,
    reason,
    started_at,
    finished_at
from {{ source('ingest', 'file_deliveries') }}
