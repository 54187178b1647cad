-- Timeliness of every source in every period it is due for: monthly extracts by the 5th
-- day after the month, quarterly ones by the 10th day after the quarter (the cadence and
-- deadline are the source registry's, carried in the sources' meta). Periods run from
-- the first reporting period to the newest as-of date delivered by any source. A period
-- is covered by the first valid delivery (loaded or later superseded) whose as-of date
-- lies in it; its arrival is the file's landing time (its load, where that is unknown). Without one, the period is missing
-- once its due date has passed (evaluated on the run's date, or var evaluation_date).
with schedule as (
    select * from {{ ref('int_source_schedules') }}
),
horizon as (
    select max(newest_as_of_date) as newest_as_of_date
    from {{ ref('int_source_as_of_dates') }}
),
due_periods as (
    select
        schedule.source_code,
        periods.period_type,
        periods.period_start,
        periods.period_end,
        (periods.period_end + schedule.deadline_days) as due_date
    from schedule
    inner join {{ ref('int_periods') }} as periods
        on periods.period_type = case schedule.cadence when 'monthly' then 'month' else 'quarter' end
    cross join horizon
    where periods.period_end <= horizon.newest_as_of_date
),
first_arrivals as (
    select
        due_periods.source_code,
        due_periods.period_start,
        due_periods.period_type,
        min(coalesce(deliveries.arrived_at, deliveries.started_at)) as first_arrived_at
    from due_periods
    inner join {{ ref('stg_ingest__deliveries') }} as deliveries
        on deliveries.source_code = due_periods.source_code
       and deliveries.effective_status in ('loaded', 'superseded')
       and deliveries.as_of_date between due_periods.period_start and due_periods.period_end
    group by due_periods.source_code, due_periods.period_start, due_periods.period_type
)
select
    due_periods.source_code,
    due_periods.period_type,
    due_periods.period_start,
    due_periods.period_end,
    due_periods.due_date,
    first_arrivals.first_arrived_at,
    case
        when first_arrivals.first_arrived_at is null and due_periods.due_date >= {{ evaluation_date() }} then 'not_yet_due'
        when first_arrivals.first_arrived_at is null then 'missing'
        when (first_arrivals.first_arrived_at at time zone '{{ var("timezone") }}')::date <= due_periods.due_date then 'on_time'
        else 'late'
    end as status,
    case when first_arrivals.first_arrived_at is not null then
        greatest(0, (first_arrivals.first_arrived_at at time zone '{{ var("timezone") }}')::date - due_periods.due_date)
    end as days_late
from due_periods
left join first_arrivals using (source_code, period_type, period_start)
