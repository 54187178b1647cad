-- The oldest and newest as-of date of each source among its current (valid, not superseded) files.
select
    source_code,
    min(as_of_date) as oldest_as_of_date,
    max(as_of_date) as newest_as_of_date,
    count(*) as current_files
from {{ ref('stg_ingest__deliveries') }}
where is_current
group by source_code
