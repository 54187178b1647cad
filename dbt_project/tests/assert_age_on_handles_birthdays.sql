-- Age on a date: the cases that are easy to get wrong. Any row returned is a failure.
with cases (birth_date, on_date, expected_age) as (
    values
        (date '2008-02-29', date '2027-02-28', 18),  -- leap-day birthday, common year: not yet
        (date '2008-02-29', date '2027-03-01', 19),  -- ... it falls on 1 March
        (date '2008-02-29', date '2028-02-29', 20),  -- leap year: on the day
        (date '2011-06-30', date '2026-06-30', 15),  -- 15th birthday on R counts
        (date '2011-07-01', date '2026-06-30', 14),
        (date '1976-06-30', date '2026-06-30', 50),  -- 50th birthday on R: no longer 15-49
        (date '1977-06-30', date '2026-06-30', 49),
        (date '1977-07-01', date '2026-06-30', 48)
)
select * from cases
where {{ age_on('birth_date', 'on_date') }} <> expected_age
