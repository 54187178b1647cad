"""Delivering a run's items: one digest per recipient, once; the record; failures.

How (`deliver`): each recipient unit (its lead-unit items; the commission every item) gets
one email (SMTP; HTML with a plain-text part) and one post to its chat robot, with all its
items grouped by what needs action (`digest`). The units' mailboxes and robots' connection
ids are read from `reference.ref_alert_recipients` (the dbt seed `ref_alert_recipients`).

Repeats: an item is new the first time it is told, changed when what it says (its facts'
fingerprint) differs from the last time it was told. An unchanged item is listed as "still
open since …" in any digest that goes out, and is not by itself a reason to send one —
unless the recipient was last told of it more than config.ALERT_SUPPRESSION_HOURS ago (a
reminder). A recipient with nothing new, changed or due for a reminder gets no message.

Record: `alerts.sent_digests` holds one row per message (recipient, channel, the items it
listed, its error); `alerts.sent_alerts` one row per item and delivery, never updated: its
status, fingerprint, the digests and channels that carried it, their errors, and
`suppressed` when no digest carried it.

Failures: every digest is tried on every channel; failures are recorded and logged, and
when any item could not reach everyone it should (a channel failed, a recipient has no
mailbox, or nothing is configured at all) `deliver` raises `AlertDeliveryFailed` after
trying all, so the task — and the run — shows red. With no channel configured at all the
items are kept as undelivered (not a failure: a warehouse without a mail server runs green).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import psycopg

from include import config
from include.errors import AlertDeliveryFailed
from include.notify import channels, collect, digest, followups, templates
from include.warehouse import connection

log = logging.getLogger(__name__)

RECIPIENTS_TABLE = "reference.ref_alert_recipients"
SUPPRESSION = dt.timedelta(hours=config.ALERT_SUPPRESSION_HOURS)
NO_CHANNEL = "not delivered: no channel configured (SMTP or chat robot)"
NO_RECIPIENT_CHANNEL = "no delivery channel configured (SMTP or chat robot) for its recipients"


def fingerprint(alert: collect.Alert) -> str:
    return hashlib.sha256(f"{alert.kind}|{alert.item.facts}".encode()).hexdigest()[:16]


def _recipients(conn) -> dict[str, tuple[str | None, str | None]]:
    """unit_zh -> (mailbox, robot's connection id), from the seed."""
    if not connection.relation_exists(conn, RECIPIENTS_TABLE):
        raise RuntimeError(f"{RECIPIENTS_TABLE} is missing: run `dbt seed` (the seed ref_alert_recipients)")
    rows = conn.execute(f"select unit_zh, email, webhook_conn_id from {RECIPIENTS_TABLE}").fetchall()
    return {unit: (email or None, conn_id or None) for unit, email, conn_id in rows}


@dataclass
class History:
    """What was told before, of this run's items: when first, with which fingerprint last, and
    when each unit was last told (by any channel)."""

    first_told: dict[str, dt.datetime] = field(default_factory=dict)
    last_fingerprint: dict[str, str | None] = field(default_factory=dict)
    last_told: dict[tuple[str, str], dt.datetime] = field(default_factory=dict)  # (key, unit)

    def status(self, alert: collect.Alert, print_: str) -> str:
        if alert.key not in self.first_told:
            return digest.NEW
        last = self.last_fingerprint.get(alert.key)
        # rows from before the digests carry no fingerprint: their items count as unchanged
        return digest.CHANGED if last is not None and last != print_ else digest.STILL_OPEN


def _history(conn, keys: list[str]) -> History:
    history = History()
    with conn.transaction():
        for key, first, last_print in conn.execute(
            "select alert_key, min(sent_at), (array_agg(fingerprint order by sent_at desc, alert_id desc))[1] "
            "from alerts.sent_alerts where alert_key = any(%s) and cardinality(channels) > 0 group by alert_key",
            (keys,),
        ):
            history.first_told[key] = first
            history.last_fingerprint[key] = last_print
        for key, unit, last in conn.execute(
            "select alert_key, split_part(channel, ':', 2), max(sent_at) from alerts.sent_alerts, "
            "unnest(channels) as channel where alert_key = any(%s) group by 1, 2", (keys,),
        ):
            history.last_told[(key, unit)] = last
    return history


def _entries(alerts: list[collect.Alert], history: History, now: dt.datetime, suppress_for: dt.timedelta,
             ) -> tuple[dict[str, list[digest.Entry]], dict[str, str]]:
    """recipient -> its entries (every item routed to it), and each item's status."""
    by_unit: dict[str, list[digest.Entry]] = defaultdict(list)
    statuses = {}
    for alert in alerts:
        status = statuses[alert.key] = history.status(alert, fingerprint(alert))
        since = history.first_told.get(alert.key)
        for unit in alert.recipients:
            told = history.last_told.get((alert.key, unit))
            mine = status
            if status == digest.STILL_OPEN and told is None:
                mine = digest.NEW  # told to others before, not to this unit
            elif status == digest.STILL_OPEN and now - told >= suppress_for:
                mine = digest.REMINDER
            by_unit[unit].append(digest.Entry(alert, mine, since))
    return by_unit, statuses


def _due(entries: list[digest.Entry]) -> bool:
    return any(e.status != digest.STILL_OPEN for e in entries)


@dataclass
class Outcome:
    """What became of each item: the channels and digests that carried it, its errors."""

    reached: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    digests: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    failures: list[str] = field(default_factory=list)

    def mark(self, d: digest.Digest, channel: str, digest_id: int, error: str | None) -> None:
        for key in d.keys:
            self.digests[key].append(digest_id)
            if error:
                self.errors[key].append(f"{channel}: {error}")
            else:
                self.reached[key].append(channel)
        if error:
            self.failures.append(f"{channel}: {error}")
            log.error("digest for %s not delivered on %s: %s", d.recipient, channel, error)


def deliver(
    conn: psycopg.Connection,
    alerts: Iterable[collect.Alert],
    *,
    links: digest.Links | None = None,
    smtp: channels.SmtpSettings | None = None,
    webhook_urls: Mapping[str, str] | None = None,
    suppress_for: dt.timedelta = SUPPRESSION,
    now: dt.datetime | None = None,
) -> dict:
    """Send each recipient that has anything new, changed or due its digest, on every channel
    it has, and record every item and message.

    `links` (the report, the Data Docs, the run id) are named in every digest. `smtp`
    (default: the configured settings, see `channels`) and `webhook_urls` (unit_zh -> URL;
    default: the configured robots) override the configuration. Each row is committed as it
    is written when `conn` has no open transaction. Returns counts {items, new, changed,
    still_open, digests, emails, webhooks, sent, suppressed, failed, undelivered}; raises
    AlertDeliveryFailed (with the counts) after trying everything when any item missed a
    channel it should have reached.
    """
    now = now or dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    alerts = list({a.key: a for a in alerts}.values())  # one item per key
    result = dict.fromkeys(("items", "new", "changed", "still_open", "digests", "emails", "webhooks", "sent",
                            "suppressed", "failed", "undelivered"), 0)
    result["items"] = len(alerts)
    if not alerts:
        return result
    links = links or digest.Links(run_id=alerts[0].run_id)
    with conn.transaction():
        routing = _recipients(conn)
    by_unit, statuses = _entries(alerts, _history(conn, [a.key for a in alerts]), now, suppress_for)
    for status in statuses.values():
        result[status] += 1
    due = {unit: entries for unit, entries in by_unit.items() if _due(entries)}
    settings = smtp if smtp is not None else channels.smtp_settings()
    robot = _robot_finder(routing, webhook_urls)
    if settings is None and not any(robot(unit) for unit in by_unit):
        return _keep_undelivered(conn, alerts, statuses, now, result)
    if settings is None:
        log.warning("no SMTP settings (Airflow connection %s or %s): digests go by chat robot only",
                    config.SMTP_CONN_ID, config.SMTP_URL_ENV)
    outcome = Outcome()
    composed = {unit: digest.compose(unit, entries, links) for unit, entries in due.items()}
    _send_emails(conn, composed, routing, settings, links, now, outcome, result)
    _post_robots(conn, composed, robot, links, now, outcome, result)
    in_a_digest = {key for d in composed.values() for key in d.keys}
    for alert in alerts:
        reached, errors = outcome.reached[alert.key], outcome.errors[alert.key]
        if alert.key in in_a_digest and not outcome.digests[alert.key]:  # its recipients have no channel
            errors.append(NO_RECIPIENT_CHANNEL)
            outcome.failures.append(f"{alert.key}: {NO_RECIPIENT_CHANNEL}")
        _record(conn, alert, statuses[alert.key], reached, errors, outcome.digests[alert.key], now,
                suppressed=not outcome.digests[alert.key])
        result["sent"] += bool(reached)
        result["suppressed"] += not outcome.digests[alert.key]
        result["failed"] += bool(errors)
    log.info("alert digests: %s", result)
    if outcome.failures:
        raise AlertDeliveryFailed(
            f"{result['failed']} of {len(alerts)} alert items did not reach everyone (recorded in "
            "alerts.sent_alerts and alerts.sent_digests):\n" + "\n".join(f"- {f}" for f in outcome.failures[:20]),
            result,
        )
    return result


def _send_emails(conn, composed: dict[str, digest.Digest], routing: dict, settings, links: digest.Links,
                 now: dt.datetime, outcome: Outcome, result: dict) -> None:
    if settings is None:
        return
    mailer = channels.Mailer(settings)
    try:
        for unit, d in composed.items():
            address = routing.get(unit, (None, None))[0]
            error = None if address else f"no address in {RECIPIENTS_TABLE}"
            if address:
                try:
                    mailer.send(d, unit, address, links.run_id)
                    result["emails"] += 1
                except Exception as exc:  # recorded, logged, raised at the end
                    error = templates.mask_id_numbers(f"{type(exc).__name__}: {exc}"[:500])
            channel = f"email:{unit}"
            outcome.mark(d, channel, _record_digest(conn, d, channel, links.run_id, now, error), error)
            result["digests"] += error is None
    finally:
        mailer.close()


def _post_robots(conn, composed: dict[str, digest.Digest], robot: Callable[[str], str | None],
                 links: digest.Links, now: dt.datetime, outcome: Outcome, result: dict) -> None:
    """One post per robot: units sharing a robot share one message, the first unit's digest
    (the commission's, where it is one of them, as it lists every item)."""
    posted: set[str] = set()
    ordered = sorted(composed, key=lambda unit: unit != templates.COMMISSION)
    for unit in ordered:
        url = robot(unit)
        if not url or url in posted:
            continue
        posted.add(url)
        d = composed[unit]
        error = None
        try:
            channels.post_webhook(url, d.markdown)
            result["webhooks"] += 1
        except Exception as exc:  # recorded, logged, raised at the end; its text names no URL
            error = str(exc)[:500]
        channel = f"webhook:{unit}"
        outcome.mark(d, channel, _record_digest(conn, d, channel, links.run_id, now, error), error)
        result["digests"] += error is None


def _record_digest(conn, d: digest.Digest, channel: str, run_id: str | None, now: dt.datetime,
                   error: str | None) -> int:
    with conn.transaction():
        return conn.execute(
            "insert into alerts.sent_digests (run_id, sent_at, recipient, channel, subject, items, new_items, "
            "alert_keys, error) values (%s, %s, %s, %s, %s, %s, %s, %s, %s) returning digest_id",
            (run_id, now, d.recipient, channel, d.subject, len(d.keys), d.fresh, list(d.keys), error),
        ).fetchone()[0]


def _record(conn, alert: collect.Alert, status: str, reached: list[str], errors: list[str],
            digest_ids: list[int], now: dt.datetime, suppressed: bool) -> None:
    with conn.transaction():
        conn.execute(
            "insert into alerts.sent_alerts (alert_key, kind, severity, recipients, subject, body, channels, "
            "errors, run_id, sent_at, suppressed, fingerprint, status, digest_ids) "
            "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            # str(): the enums' values are the strings stored
            (alert.key, str(alert.kind), str(alert.severity), list(alert.recipients), alert.subject, alert.body,
             reached, errors, alert.run_id, now, suppressed, fingerprint(alert), status, digest_ids),
        )


def _keep_undelivered(conn, alerts: list[collect.Alert], statuses: dict, now: dt.datetime, result: dict) -> dict:
    """No channel at all: each item recorded as undelivered (it is new again next time)."""
    for alert in alerts:
        _record(conn, alert, statuses[alert.key], [], [NO_CHANNEL], [], now, suppressed=False)
    result["undelivered"] = len(alerts)
    log.warning("%d alert items kept in alerts.sent_alerts, not delivered: no channel is configured (Airflow "
                "connection %s or %s for mail, %s or the robots of %s)", len(alerts), config.SMTP_CONN_ID,
                config.SMTP_URL_ENV, config.DEFAULT_WEBHOOK_ENV, RECIPIENTS_TABLE)
    return result


def _robot_finder(routing: dict, webhook_urls: Mapping[str, str] | None) -> Callable[[str], str | None]:
    """unit -> its robot's URL (None: no robot): `webhook_urls` when given, else the configured
    robots, each looked up once per delivery."""
    if webhook_urls is not None:
        return webhook_urls.get
    robots: dict[str, str | None] = {}

    def robot(unit: str) -> str | None:
        if unit not in robots:
            robots[unit] = channels.webhook_url(unit, routing.get(unit, (None, None))[1])
        return robots[unit]

    return robot


def run_alerts(run_id: str | None = None, quality: dict | None = None, data_docs: str | None = None,
               url: str | None = None, build_failure: dict | None = None) -> dict:
    """Collect this run's items on the warehouse at `url` (by default WAREHOUSE_URL), keep the
    quality items on the follow-up list, and deliver all but those explained, as the DAG would."""
    quality = quality or {}
    run_id = run_id or quality.get("run_id")
    docs = collect.docs_link(data_docs or quality.get("data_docs"))
    links = digest.Links(report=config.report_link(), data_docs=docs, run_id=run_id)
    with connection.connect(url) as conn:
        alerts = collect.collect_alerts(conn, run_id, quality, build_failure=build_failure)
        statuses = followups.record(conn, alerts, dt.datetime.now(dt.UTC), run_id, fingerprint)
        return deliver(conn, followups.told(alerts, statuses), links=links)
