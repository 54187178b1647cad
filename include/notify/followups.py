"""The follow-up list (alerts.quality_followups): every quality item — an outlier, a failed
consistency check or source pair, a blocked or warned gate check — once, with when it was
first and last seen and the status a person sets.

Each run's alerts `record` the items they found: a new item is `open`; one seen again keeps
its status, except that `corrected` opens again (the correction did not remove it) and so
does `explained` when what the item says has changed. Items marked `explained` are left out
of the digests (`told`). People list the items and set a status through `python -m
include.cli followup` (`items`, `set_status`); marts.quality_followups shows the list.
"""

from __future__ import annotations

import datetime as dt
import logging

import psycopg

from include.errors import UnknownFollowup
from include.notify import collect
from include.notify.collect import AlertKind

log = logging.getLogger(__name__)

STATUSES = ("open", "explained", "corrected")
KINDS = {
    AlertKind.QUALITY_OUTLIER: "outlier",
    AlertKind.QUALITY_INCONSISTENT: "pair",
    AlertKind.QUALITY_BLOCK: "quality_block",
    AlertKind.QUALITY_WARN: "quality_warn",
}
CONSISTENCY_CHECK = "newest_against_preceding_mean"  # quality_scorecard's consistency over time


def _kind(alert: collect.Alert) -> str:
    if alert.kind is AlertKind.QUALITY_INCONSISTENT and f"|{CONSISTENCY_CHECK}|" in alert.key:
        return "consistency"
    return KINDS[alert.kind]


def record(conn: psycopg.Connection, alerts: list[collect.Alert], now: dt.datetime, run_id: str | None,
           fingerprint) -> dict[str, str]:
    """Write this run's quality items into the list; return each one's status after it."""
    statuses = {}
    with conn.transaction():
        for alert in alerts:
            if alert.kind not in KINDS:
                continue
            item = alert.item
            statuses[alert.key] = conn.execute(
                """
                insert into alerts.quality_followups as kept (item_key, kind, lead_unit, subject, detail, org_code,
                    period_label, fingerprint, first_seen_at, last_seen_at, last_run_id)
                values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                on conflict (item_key) do update set
                    lead_unit = excluded.lead_unit, subject = excluded.subject, detail = excluded.detail,
                    last_seen_at = excluded.last_seen_at, last_run_id = excluded.last_run_id,
                    fingerprint = excluded.fingerprint,
                    status = case
                        when kept.status = 'corrected' then 'open'
                        when kept.status = 'explained' and kept.fingerprint is distinct from excluded.fingerprint
                            then 'open'
                        else kept.status
                    end
                returning status
                """,
                (alert.key, _kind(alert), alert.recipients[0] if alert.recipients else None, item.title,
                 item.line or "\n".join(item.details), item.org_code or None, item.period or None,
                 fingerprint(alert), now, now, run_id),
            ).fetchone()[0]
    log.info("follow-up list: %d items seen, %d explained", len(statuses),
             sum(s == "explained" for s in statuses.values()))
    return statuses


def told(alerts: list[collect.Alert], statuses: dict[str, str]) -> list[collect.Alert]:
    """The items to tell: all but those a person marked explained."""
    return [a for a in alerts if statuses.get(a.key) != "explained"]


def items(conn: psycopg.Connection, unit: str | None = None, status: str | None = None,
          current_only: bool = True) -> list[dict]:
    """The list, newest first: each item's key, kind, lead unit, subject, seen and status."""
    where, params = ["true"], []
    if unit:
        where.append("lead_unit = %s")
        params.append(unit)
    if status:
        where.append("status = %s")
        params.append(status)
    if current_only:
        where.append("last_seen_at = (select max(last_seen_at) from alerts.quality_followups)")
    cur = conn.execute(
        "select item_key, kind, lead_unit, subject, first_seen_at, last_seen_at, status, status_note "
        f"from alerts.quality_followups where {' and '.join(where)} order by lead_unit, kind, item_key", params)
    names = [d.name for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def set_status(conn: psycopg.Connection, key: str, status: str, note: str | None, by: str) -> dict:
    """Set an item's status (open, explained, corrected) with a note; raise UnknownFollowup."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    with conn.transaction():
        row = conn.execute(
            "update alerts.quality_followups set status = %s, status_note = %s, status_set_by = %s, "
            "status_set_at = now() where item_key = %s returning item_key, subject, status",
            (status, note, by, key),
        ).fetchone()
    if row is None:
        raise UnknownFollowup(f"no follow-up item has the key {key!r}: list them with `python -m include.cli "
                              "followup`")
    return {"item_key": row[0], "subject": row[1], "status": row[2]}
