-- Each current snapshot a build reads of each snapshot source (int_snapshots_read): its
-- rows by town-level unit (and the district's total), with the previous snapshot's count,
-- for the denominators' consistency over time. Staging keeps the newest snapshot only; the
-- counts of each snapshot are int_snapshot_file_town_counts', counted once per delivery from
-- the raw tables (the town is the area column the source's indicators use).
with snapshots as (
    select file_id, source_code, as_of_date, finished_at
    from {{ ref('int_snapshots_read') }}
),
town_rows as (
    select snapshots.source_code, snapshots.as_of_date, counts.org_code, counts.n
    from {{ ref('int_snapshot_file_town_counts') }} as counts
    inner join snapshots
        on snapshots.file_id = counts.file_id and snapshots.finished_at = counts.loaded_at
),
counted as (
    select source_code, as_of_date, org_code, 'town' as org_level, n from town_rows
    union all
    select source_code, as_of_date, '{{ var("district_code") }}', 'district', sum(n)
    from town_rows
    group by source_code, as_of_date
)
select
    source_code,
    as_of_date,
    org_code,
    org_level,
    n::bigint as n,
    (lag(n) over snapshot_order)::bigint as previous_n,
    lag(as_of_date) over snapshot_order as previous_as_of_date
from counted
window snapshot_order as (partition by source_code, org_code order by as_of_date)
