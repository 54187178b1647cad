-- 数据质量计分卡 (WHO Data Quality Review): per check, org unit and period, the measured value
-- against its standard (seed ref_quality_standards; pairs: seed ref_related_source_pairs),
-- and whether it passes; and per org unit and period a composite, the share of its judged
-- checks that pass. One row per dimension x check x subject x org unit x period.
with standards as (
    select standard_code, threshold from {{ ref('ref_quality_standards') }}
),
timeliness as (
    select
        source_code, period_type, period_start, period_end, status,
        avg((status = 'on_time')::integer) over recent as on_time_share
    from {{ ref('source_timeliness') }}
    where status <> 'not_yet_due'
    window recent as (partition by source_code, period_type order by period_start rows 11 preceding)
),
completeness_rows as (
    -- an extract is delivered district-wide: received (on time or late) or not, per period
    select
        'completeness' as dimension, 'extract_received' as check_code, source_code as subject_code,
        period_type, period_start,
        case when status in ('on_time', 'late') then 1.0 else 0.0 end as value,
        case status when 'on_time' then '按时送达' when 'late' then '逾期送达' else '未收到' end as detail
    from timeliness
),
timeliness_rows as (
    select
        'timeliness' as dimension, 'on_time_share_12_periods' as check_code, source_code as subject_code,
        period_type, period_start, on_time_share as value,
        '近 12 期按时比例；本期' || case status when 'on_time' then '按时' when 'late' then '逾期' else '未收到' end as detail
    from timeliness
),
outlier_rows as (
    select
        indicator_code || ':' || measure as subject_code, org_code, 'month' as period_type, period_start,
        abs(modified_z_score) as value,
        '本月 ' || value || '，其他月份中位数 ' || round(median::numeric, 1) as detail
    from {{ ref('int_quality_outlier_scores') }}
),
consistency_rows as (
    select
        indicator_code || ':' || measure as subject_code, org_code, period_type, period_start,
        abs(value / preceding_mean - 1) as value,
        '本期 ' || value || '，此前 ' || preceding_periods || ' 期均值 ' || round(preceding_mean::numeric, 1) as detail
    from {{ ref('int_quality_consistency') }}
),
pair_counts as (
    select
        pairs.pair_code, pairs.kind, pairs.expected_ratio, pairs.tolerance,
        numerators.org_code, numerators.org_level, numerators.period_start, numerators.period_end,
        numerators.n as numerator_n, denominators.n as denominator_n,
        pairs.settle_days, pairs.min_count
    from {{ ref('ref_related_source_pairs') }} as pairs
    inner join {{ ref('int_quality_counts') }} as numerators on numerators.measure_code = pairs.numerator_measure
    inner join {{ ref('int_quality_counts') }} as denominators
        on denominators.measure_code = pairs.denominator_measure
        and denominators.org_code = numerators.org_code
        and denominators.period_start = numerators.period_start
),
pair_rows as (
    select
        pair_counts.kind as dimension, pair_code as check_code, pair_code as subject_code, org_code,
        'month' as period_type, period_start,
        abs(numerator_n::double precision / denominator_n / expected_ratio - 1) as value,
        tolerance as threshold,
        numerator_n || ' / ' || denominator_n || ' = ' || round(numerator_n::numeric / denominator_n, 3)
            || '（预期 ' || expected_ratio || '）' as detail
    from pair_counts
    where denominator_n >= min_count
      and period_end + settle_days <= (select max(newest_as_of_date) from {{ ref('int_source_as_of_dates') }})
),
denominator_rows as (
    select
        source_code as subject_code, org_code, 'month' as period_type,
        date_trunc('month', as_of_date)::date as period_start,
        abs(n::double precision / previous_n - 1) as value,
        '上次快照 ' || previous_n || '（' || previous_as_of_date || '）→ 本次 ' || n || '（' || as_of_date || '）'
            as detail
    from {{ ref('int_snapshot_town_counts') }}
    where previous_n >= (select threshold from standards where standard_code = 'min_count')
),
checks as (
    select dimension, check_code, subject_code, '{{ var("district_code") }}' as org_code, period_type, period_start,
           value, (select threshold from standards where standard_code = 'completeness') as threshold,
           '>=' as passes_when, detail
    from completeness_rows
    union all
    select dimension, check_code, subject_code, '{{ var("district_code") }}', period_type, period_start,
           value, (select threshold from standards where standard_code = 'timeliness'), '>=', detail
    from timeliness_rows
    union all
    select 'outliers', 'modified_z_score', subject_code, org_code, period_type, period_start,
           value, (select threshold from standards where standard_code = 'outlier_moderate'), '<', detail
    from outlier_rows
    union all
    select 'consistency_over_time', 'newest_against_preceding_mean', subject_code, org_code, period_type, period_start,
           value, (select threshold from standards where standard_code = 'consistency_over_time'), '<=', detail
    from consistency_rows
    union all
    select dimension, check_code, subject_code, org_code, period_type, period_start, value, threshold, '<=', detail
    from pair_rows
    union all
    select 'denominators', 'growth_against_previous_snapshot', subject_code, org_code, period_type, period_start,
           value, (select threshold from standards where standard_code = 'denominator_growth'), '<=', detail
    from denominator_rows
),
judged as (
    select
        checks.*,
        case passes_when
            when '>=' then value >= threshold
            when '<=' then value <= threshold
            when '<' then value < threshold
        end as passed
    from checks
),
composite as (
    select
        'composite' as dimension, 'share_of_checks_passed' as check_code, 'all' as subject_code, org_code,
        period_type, period_start, avg(passed::integer)::double precision as value,
        (select threshold from standards where standard_code = 'composite') as threshold, '>=' as passes_when,
        count(*) || ' 项检查中 ' || count(*) filter (where passed) || ' 项合格' as detail
    from judged
    group by org_code, period_type, period_start
)
select
    all_rows.dimension,
    all_rows.check_code,
    all_rows.subject_code,
    all_rows.org_code,
    case when all_rows.org_code = '{{ var("district_code") }}' then 'district' else 'town' end as org_level,
    all_rows.period_type,
    all_rows.period_start,
    periods.period_label,
    all_rows.value,
    all_rows.threshold,
    all_rows.passes_when,
    all_rows.passed,
    all_rows.detail
from (
    select * from judged
    union all
    select *, value >= threshold from composite
) as all_rows
left join {{ ref('int_periods') }} as periods using (period_type, period_start)
