"""Delivering the alerts, once: suppression, the record in alerts.sent_alerts, failures.

How (`deliver`): one email per recipient unit (SMTP) and one JSON post per distinct chat
robot of the recipients (see `channels`). The units' mailboxes and robots' connection ids
are read from `reference.ref_alert_recipients` (the dbt seed `ref_alert_recipients`).
Every alert is recorded in `alerts.sent_alerts`, one row per alert and call, never
updated: an alert whose key was delivered (on at least one channel) within the
suppression interval (config.ALERT_SUPPRESSION_HOURS) is not sent again and is recorded
as suppressed.

Failures: every channel is tried for every alert; failures are recorded with the alert
(`errors`) and logged, and when any alert could not be delivered everywhere it should go
(a channel failed, a recipient has no mailbox, or nothing is configured at all) `deliver`
raises `AlertDeliveryFailed` after trying all, so the task — and the run — shows red.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping

import psycopg

from include import config
from include.errors import AlertDeliveryFailed
from include.notify import channels, collect, templates
from include.warehouse import connection

log = logging.getLogger(__name__)

RECIPIENTS_TABLE = "reference.ref_alert_recipients"
SUPPRESSION = dt.timedelta(hours=config.ALERT_SUPPRESSION_HOURS)

def _recipients(conn) -> dict[str, tuple[str | None, str | None]]:
    """unit_zh -> (mailbox, robot's connection id), from the seed."""
    if not connection.relation_exists(conn, RECIPIENTS_TABLE):
        raise RuntimeError(f"{RECIPIENTS_TABLE} is missing: run `dbt seed` (the seed ref_alert_recipients)")
    rows = conn.execute(f"select unit_zh, email, webhook_conn_id from {RECIPIENTS_TABLE}").fetchall()
    return {unit: (email or None, conn_id or None) for unit, email, conn_id in rows}


def _already_sent(conn, key: str, since: dt.datetime) -> bool:
    with conn.transaction():
        return conn.execute(
            "select exists (select 1 from alerts.sent_alerts where alert_key = %s and not suppressed "
            "and cardinality(channels) > 0 and sent_at > %s)", (key, since),
        ).fetchone()[0]


def _record(conn, alert: collect.Alert, reached: list[str], errors: list[str], now: dt.datetime,
            suppressed: bool) -> None:
    with conn.transaction():
        conn.execute(
            "insert into alerts.sent_alerts (alert_key, kind, severity, recipients, subject, body, "
            "channels, errors, run_id, sent_at, suppressed) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            # str(): the enums' values are the strings stored
            (alert.key, str(alert.kind), str(alert.severity), list(alert.recipients), alert.subject, alert.body,
             reached, errors, alert.run_id, now, suppressed),
        )


def deliver(
    conn: psycopg.Connection,
    alerts: Iterable[collect.Alert],
    *,
    smtp: channels.SmtpSettings | None = None,
    webhook_urls: Mapping[str, str] | None = None,
    suppress_for: dt.timedelta = SUPPRESSION,
    now: dt.datetime | None = None,
) -> dict:
    """Send each alert not delivered within `suppress_for` (same key) and record every one.

    Email: one message per recipient unit, to its address in reference.ref_alert_recipients.
    Webhook: one post per distinct robot URL of the recipients. `smtp` (default: the
    configured settings, see `channels`) and `webhook_urls` (unit_zh -> URL; default: the
    configured robots) override the configuration. An alert counts as delivered — and
    suppresses its key — when it reached at least one channel.

    With no channel configured at all (no SMTP settings, no robot for any recipient), every
    alert is kept in alerts.sent_alerts as undelivered and one warning says so: a warehouse
    without a mail server still runs green. A configured channel that fails is a failure.

    Each row of alerts.sent_alerts is committed as it is written when `conn` has no open
    transaction. Returns counts {alerts, sent, suppressed, failed, undelivered, emails,
    webhooks}; raises AlertDeliveryFailed (with the counts) after trying everything when any
    alert missed a channel it should have reached.
    """
    now = now or dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    alerts = list(alerts)
    result = {"alerts": len(alerts), "sent": 0, "suppressed": 0, "failed": 0, "undelivered": 0, "emails": 0,
              "webhooks": 0}
    if not alerts:
        return result
    with conn.transaction():
        routing = _recipients(conn)
    settings = smtp if smtp is not None else channels.smtp_settings()
    mailer = channels.Mailer(settings) if settings else None
    robot = _robot_finder(routing, webhook_urls)
    if mailer is None and not any(robot(unit) for alert in alerts for unit in alert.recipients):
        return _keep_undelivered(conn, alerts, now, result)
    if mailer is None:
        log.warning("no SMTP settings (Airflow connection %s or %s): alerts go by webhook only",
                    config.SMTP_CONN_ID, config.SMTP_URL_ENV)
    failures: list[str] = []
    since = now - suppress_for
    try:
        for given in alerts:
            alert = dataclasses.replace(given, subject=templates.mask_id_numbers(given.subject),
                                        body=templates.mask_id_numbers(given.body))
            if _already_sent(conn, alert.key, since):
                _record(conn, alert, [], [], now, suppressed=True)
                result["suppressed"] += 1
                continue
            reached, errors = _send(alert, routing, mailer, robot, result)
            errors = [templates.mask_id_numbers(e) for e in errors]
            _record(conn, alert, reached, errors, now, suppressed=False)
            if errors:
                result["failed"] += 1
                failures.append(f"{alert.key}: {'; '.join(errors)}")
                log.error("alert %s not fully delivered: %s", alert.key, "; ".join(errors))
            if reached:
                result["sent"] += 1
    finally:
        if mailer is not None:
            mailer.close()
    log.info("alerts: %s", result)
    if failures:
        raise AlertDeliveryFailed(
            f"{len(failures)} of {len(alerts)} alerts were not delivered everywhere "
            f"(recorded in alerts.sent_alerts):\n" + "\n".join(f"- {f}" for f in failures[:20]),
            result,
        )
    return result


NO_CHANNEL = "not delivered: no channel configured (SMTP or chat robot)"


def _keep_undelivered(conn, alerts: list[collect.Alert], now: dt.datetime, result: dict) -> dict:
    """No channel at all: each alert recorded as undelivered (it is not suppressed next time)."""
    for given in alerts:
        alert = dataclasses.replace(given, subject=templates.mask_id_numbers(given.subject),
                                    body=templates.mask_id_numbers(given.body))
        _record(conn, alert, [], [NO_CHANNEL], now, suppressed=False)
    result["undelivered"] = len(alerts)
    log.warning("%d alerts kept in alerts.sent_alerts, not delivered: no channel is configured (Airflow "
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


def _send(
    alert: collect.Alert, routing: dict, mailer: channels.Mailer | None, robot: Callable[[str], str | None],
    result: dict,
) -> tuple[list[str], list[str]]:
    """Try every channel of `alert`: (channels reached, errors); counts emails and posts in `result`."""
    reached, errors = [], []
    if mailer is not None:
        for unit in alert.recipients:
            address = routing.get(unit, (None, None))[0]
            if not address:
                errors.append(f"email:{unit}: no address in {RECIPIENTS_TABLE}")
                continue
            try:
                mailer.send(alert, unit, address)
                reached.append(f"email:{unit}")
                result["emails"] += 1
            except Exception as exc:  # recorded, logged, raised at the end
                errors.append(f"email:{unit}: {type(exc).__name__}: {exc}"[:500])
    posted: set[str] = set()
    for unit in alert.recipients:
        url = robot(unit)
        if not url or url in posted:
            continue
        posted.add(url)
        try:
            channels.post_webhook(url, alert)
            reached.append(f"webhook:{unit}")
            result["webhooks"] += 1
        except Exception as exc:  # recorded, logged, raised at the end
            errors.append(f"webhook:{unit}: {exc}"[:500])
    if not reached and not errors:  # another recipient has a channel, these have none
        errors.append("no delivery channel configured (SMTP or webhook) for its recipients")
    return reached, errors


def run_alerts(run_id: str | None = None, quality: dict | None = None, data_docs: str | None = None,
               url: str | None = None, build_failure: dict | None = None) -> dict:
    """Collect and deliver this run's alerts on the warehouse at `url` (by default
    WAREHOUSE_URL), as the DAG would."""
    from include.warehouse import connection

    with connection.connect(url) as conn:
        return deliver(conn, collect.collect_alerts(conn, run_id, quality, data_docs, build_failure=build_failure))
