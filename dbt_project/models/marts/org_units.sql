-- 组织机构: the district and its town-level units (streets, towns, the industrial zone).
select
    org_code,
    org_name,
    org_name_en,
    org_level,
    org_kind,
    nullif(parent_code, '') as parent_code,
    valid_from,
    valid_to
from {{ ref('ref_org_units') }}
