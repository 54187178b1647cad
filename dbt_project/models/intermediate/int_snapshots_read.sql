-- The current deliveries a build reads of each source, from the newest one before the
-- reporting start on: for a snapshot source, that one is the base the first reporting
-- month's growth is measured against, and older snapshots are never read (retention,
-- include/publish/retention.py, archives them by the same rule). Without a reporting start,
-- every current delivery.
with current_deliveries as (
    select file_id, source_code, as_of_date, finished_at
    from {{ ref('stg_ingest__deliveries') }}
    where is_current
),
first_read as (
    select
        source_code,
        coalesce(
            max(as_of_date) filter (
                where as_of_date < {% if var('reporting_start') %}date '{{ var("reporting_start") }}'{% else %}null::date{% endif %}
            ),
            min(as_of_date)
        ) as first_as_of_date
    from current_deliveries
    group by source_code
)
select current_deliveries.file_id, current_deliveries.source_code, current_deliveries.as_of_date,
       current_deliveries.finished_at
from current_deliveries
inner join first_read
    on first_read.source_code = current_deliveries.source_code
   and current_deliveries.as_of_date >= first_read.first_as_of_date
