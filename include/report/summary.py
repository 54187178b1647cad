"""The run summary: the district's newest published figures, and what was loaded."""

from __future__ import annotations

import psycopg

from include.contract import registry
from include.warehouse import connection

_NEWEST_FIGURES = """
with newest as (
    select indicator_code, period_type, max(period_start) as period_start
    from marts.indicator_values
    where org_level = 'district'
    group by indicator_code, period_type
)
select v.indicator_code, c.name_zh, v.period_type, v.period_label, v.value, v.target_value,
       c.target_direction, v.target_met, v.is_partial, v.numerator, v.denominator,
       v.is_significantly_high, v.sex_ratio_status
from marts.indicator_values v
join newest using (indicator_code, period_type, period_start)
join marts.indicator_catalog c using (indicator_code)
where v.org_level = 'district'
order by v.indicator_code, array_position(array['month', 'quarter', 'year'], v.period_type)
"""

_LOADS = """
select source_code,
       count(*) filter (where effective_status = 'loaded') as current_files,
       count(*) filter (where effective_status = 'superseded') as superseded_files,
       count(*) filter (where effective_status = 'rejected') as rejected_files,
       coalesce(sum(rows_read), 0), coalesce(sum(rows_loaded), 0),
       coalesce(sum(rows_quarantined), 0), coalesce(sum(rows_duplicate), 0),
       max(as_of_date) filter (where effective_status = 'loaded')
from ingest.file_deliveries
group by source_code
order by source_code nulls last
"""


_TIMELINESS = """
select source_code, delivering_unit,
       count(*) filter (where status = 'on_time') as on_time,
       count(*) filter (where status = 'late') as late,
       count(*) filter (where status = 'missing') as missing,
       max(days_late) as most_days_late,
       string_agg(case period_type when 'quarter' then to_char(period_start, 'YYYY-"Q"Q')
                  else to_char(period_start, 'YYYY-MM') end || ' ' || status, ', ' order by period_start)
           filter (where status in ('late', 'missing')) as problems
from marts.source_timeliness
group by source_code, delivering_unit
order by source_code
"""


def _status(met: bool | None, significantly_high: bool | None, sex_ratio_status: str | None = None) -> str:
    if met is None:
        return "monitored"
    if sex_ratio_status in ("too few births to tell", "high, not significant"):
        return f"{'met' if met else 'missed'} ({sex_ratio_status})"
    if significantly_high is False and not met:
        return "missed (not significant)"
    return "met" if met else "missed"


def render(conn: psycopg.Connection) -> str:
    lines = ["", "Published indicators, district 310112 (newest period of each type):"]
    has_marts = connection.relation_exists(conn, "marts.indicator_values")
    rows = conn.execute(_NEWEST_FIGURES).fetchall() if has_marts else []
    if not rows:
        lines.append("  (nothing published yet)")
    lines.append(f"  {'indicator':<34} {'period':<9} {'value':>9} {'target':>8}  result")
    for code, name, _ptype, label, value, target, direction, met, partial, num, den, sig, judged in rows:
        target_text = f"{direction}{target:g}" if target is not None else "-"
        result = _status(met, sig, judged) + (" (partial period)" if partial else "")
        lines.append(f"  {code:<34} {label:<9} {value:>9.2f} {target_text:>8}  {result}   [{num}/{den}] {name}")

    lines += ["", "Deliveries per source:",
              f"  {'source':<12} {'files':>5} {'superseded':>10} {'rejected':>8} {'rows read':>10} "
              f"{'loaded':>9} {'quarantined':>11} {'duplicates':>10}  newest as-of"]
    for src, cur, sup, rej, read, loaded, quar, dup, newest in conn.execute(_LOADS):
        name = src or "(bad name)"
        lines.append(f"  {name:<12} {cur:>5} {sup:>10} {rej:>8} {read:>10} {loaded:>9} {quar:>11} {dup:>10}  "
                     f"{newest or '-'}")
    has_timeliness = connection.relation_exists(conn, "marts.source_timeliness")
    if has_timeliness:
        lines += ["", "Timeliness of extracts (periods due so far):",
                  f"  {'source':<12} {'on time':>7} {'late':>5} {'missing':>7}  late or missing"]
        for src, _unit, on_time, late, missing, worst, problems in conn.execute(_TIMELINESS):
            detail = f"{problems} (up to {worst} days late)" if late else (problems or "")
            lines.append(f"  {src:<12} {on_time:>7} {late:>5} {missing:>7}  {detail[:120]}")
    delivered = {r[0] for r in conn.execute("select distinct source_code from ingest.file_deliveries "
                                            "where effective_status = 'loaded'")}
    missing = [s.code for s in registry.SOURCES if s.code not in delivered]
    if missing:
        lines.append(f"  never delivered: {', '.join(missing)}")
    for _name, reason in conn.execute("select file_name, reason from ingest.file_deliveries "
                                     "where effective_status = 'rejected' order by file_name"):
        lines.append(f"  rejected: {reason}")
    return "\n".join(lines)
