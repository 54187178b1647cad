-- hotel_contraceptive_coverage: hotels of the newest gsj_lgqy snapshot open on R (founded
-- by R; active, or closed/revoked after R), and whether a 宾馆旅店 contraceptive point with
-- their credit code was inspected by R.
with periods as (
    select * from {{ ref('int_indicator_periods') }}
    where indicator_code = 'hotel_contraceptive_coverage'
),
hotel_points as (
    select credit_code, min(inspected_on) as first_inspected_on
    from {{ ref('stg_jsw__contraceptive_point_inspections') }}
    where is_hotel_point and credit_code is not null
    group by credit_code
)
select
    periods.indicator_code,
    periods.period_type,
    periods.period_start,
    hotels.town_code,
    count(*) filter (where hotel_points.first_inspected_on <= periods.reference_date) as numerator,
    count(*) as denominator
from periods
inner join {{ ref('stg_gsj__hotels') }} as hotels
    on hotels.founded_on <= periods.reference_date
   and (hotels.registration_status = 'active' or hotels.status_changed_on > periods.reference_date)
left join hotel_points on hotel_points.credit_code = hotels.credit_code
group by periods.indicator_code, periods.period_type, periods.period_start, hotels.town_code
