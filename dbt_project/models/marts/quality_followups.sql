-- 待跟进事项: the follow-up list as kept across publications (alerts.quality_followups,
-- written by each run's alerts and by people through `python -m include.cli followup`). A
-- view: it shows the list as it is now, whichever publication the marts hold.
{{ config(materialized='view') }}
select
    item_key,
    kind,
    lead_unit,
    subject,
    detail,
    org_code,
    period_label,
    first_seen_at,
    last_seen_at,
    last_seen_at = max(last_seen_at) over () as is_current,
    status,
    status_note,
    status_set_at
from {{ source('alerts', 'quality_followups') }}
