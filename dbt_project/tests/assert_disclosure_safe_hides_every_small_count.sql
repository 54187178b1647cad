-- Primary suppression and rounding, checked against the exact counts: every row of
-- indicator_values with a count in the suppressed range is hidden in the disclosure-safe
-- values, every shown count is the exact one rounded to the base, and none lies in the
-- suppressed range. A row returned is a leak.
with policy as (
    select suppress_from, suppress_to, rounding_base, suppressed_marker
    from {{ ref('ref_disclosure_control') }}
)
select exact.indicator_code, exact.org_code, exact.period_type, exact.period_start
from {{ ref('indicator_values') }} as exact
full outer join {{ ref('indicator_values_disclosure_safe') }} as safe
    using (indicator_code, org_code, period_type, period_start)
cross join policy
where safe.indicator_code is null
   or exact.indicator_code is null
   or ((exact.numerator between policy.suppress_from and policy.suppress_to
        or exact.denominator between policy.suppress_from and policy.suppress_to)
       and not safe.is_suppressed)
   or safe.numerator_rounded between policy.suppress_from and policy.suppress_to
   or safe.denominator_rounded between policy.suppress_from and policy.suppress_to
   or safe.numerator_rounded % policy.rounding_base <> 0
   or safe.denominator_rounded % policy.rounding_base <> 0
   or abs(safe.numerator_rounded - exact.numerator) * 2 > policy.rounding_base
   or abs(safe.denominator_rounded - exact.denominator) * 2 > policy.rounding_base
   or safe.numerator_shown <> coalesce(safe.numerator_rounded::text, policy.suppressed_marker)
   or safe.denominator_shown <> coalesce(safe.denominator_rounded::text, policy.suppressed_marker)
