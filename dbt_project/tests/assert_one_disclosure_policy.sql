-- The disclosure-safe view reads one rule: the seed ref_disclosure_control has exactly one row.
select count(*) as policies
from {{ ref('ref_disclosure_control') }}
having count(*) <> 1
