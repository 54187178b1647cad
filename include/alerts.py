"""Alerts: the people responsible hear about every failure and every missed target.

What is alerted (`collect_alerts`):
  - quality-gate checks that blocked publication (`quality["failed"]`) or only warned
    (`quality["warned"]`, optional: the gate today only blocks);
  - every indicator x org unit that misses its target in the NEWEST published period of
    each period type (per indicator: its newest month, quarter and year), so that a daily
    run does not re-alert all history;
  - sex ratios at birth above the target (107), saying whether they are significantly high
    (`is_significantly_high`: the Wilson interval's low bound exceeds 107) or above the
    range but not significantly so;
  - extracts late (the newest due period of each source) or missing (every period still
    missing: an open problem keeps being reported, once per suppression interval).

To whom: the lead unit (牵头单位) — of the indicator from the indicator catalogue, of the
extract from the source registry (`unit_zh`), of a quality check from the indicators its
samples name — and always the commission (区人口计生委). The units' mailboxes and chat robots
are data: the dbt seed `ref_alert_recipients`, read from the warehouse as
`reference.ref_alert_recipients`.

How (`deliver`): one email per recipient unit (SMTP) and one JSON post per distinct chat
robot of the recipients (WeCom robot format: {"msgtype": "markdown", "markdown":
{"content": ...}}). Every alert is recorded in `alerts.sent_alerts`, one row per alert
and call, never updated: an alert whose key was delivered (on at least one channel)
within the suppression interval is not sent again and is recorded as suppressed.

Configuration (no credentials in code):
  SMTP     Airflow connection `fp_smtp` (host, port, login, password, extra {"from": ...,
           "starttls": true, "ssl": false}) when Airflow is available; else
           FPWH_SMTP_URL = smtp://[user:password@]host:port (smtp+starttls:// for STARTTLS,
           smtps:// for implicit TLS) and FPWH_ALERT_FROM (the sender address).
  Robots   per unit, the Airflow connection named in the seed's `webhook_conn_id` (extra
           {"url": ...}, or schema (https) :// host[:port] extra.endpoint, with the robot's
           key as password, appended as ?key=...); else the environment variable of that
           name upper-cased (fpwh_webhook_jsw -> FPWH_WEBHOOK_JSW) holding the full URL;
           for the commission, else FPWH_WEBHOOK_URL (the default robot).
  Units without a robot are reached by email only. Robot URLs carry their key: they are
  never logged.

Failures: every channel is tried for every alert; failures are recorded with the alert
(`errors`) and logged, and when any alert could not be delivered everywhere it should go
(a channel failed, a recipient has no mailbox, or nothing is configured at all) `deliver`
raises `AlertDeliveryFailed` after trying all, so the task — and the run — shows red.

The marts hold no ID numbers or names; still, any 15- or 18-digit number in a subject or
body is masked (as include.quality does) and the masking is logged.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.header import Header
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, make_msgid
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

import psycopg

from include import quality as quality_gate
from include import registry
from include.quality import _ID_NUMBER  # the one definition of "an ID number in a message"

log = logging.getLogger(__name__)

COMMISSION = "区人口计生委"  # the commission: a copy of every alert
RECIPIENTS_TABLE = "reference.ref_alert_recipients"
SMTP_CONN_ID = "fp_smtp"
SMTP_URL_ENV = "FPWH_SMTP_URL"
FROM_ENV = "FPWH_ALERT_FROM"
DEFAULT_WEBHOOK_ENV = "FPWH_WEBHOOK_URL"
DEFAULT_FROM = "fpwh-alerts@example.gov.cn"  # placeholder; set the real sender by configuration
SENDER_NAME = "人口计生数据仓库"
TIMEZONE = ZoneInfo("Asia/Shanghai")
WEBHOOK_MAX_BYTES = 4000  # the WeCom robot takes at most 4096 bytes of markdown
TIMEOUT_SECONDS = 10
MAX_SAMPLES = 5

SEX_RATIO = "sex_ratio_at_birth"
PERIOD_NAMES = {"month": "月", "quarter": "季度", "year": "年"}
DIRECTION_WORDS = {">=": ("≥", "不低于"), "<=": ("≤", "不高于")}

SENT_ALERTS_DDL = """
create schema if not exists alerts;
create table if not exists alerts.sent_alerts (
    alert_id    bigserial primary key,
    alert_key   text not null,
    kind        text not null,
    severity    text not null,
    recipients  text[] not null,
    subject     text not null,
    body        text not null,
    channels    text[] not null default '{}',
    errors      text[] not null default '{}',
    run_id      text,
    sent_at     timestamptz not null,
    suppressed  boolean not null
);
create index if not exists sent_alerts_key_sent_at on alerts.sent_alerts (alert_key, sent_at desc);
comment on table alerts.sent_alerts is
    'One row per alert per delivery attempt, never updated: channels it reached (email:<unit>, webhook:<unit>), delivery errors, or suppressed when the same alert_key was delivered within the suppression interval.';
"""


class AlertDeliveryFailed(RuntimeError):
    """Some alerts did not reach every channel they should have; `result` holds the counts."""

    def __init__(self, message: str, result: dict):
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class Alert:
    key: str  # stable across runs: what suppression compares
    kind: str
    severity: str  # critical | warning | notice
    recipients: tuple[str, ...]  # unit names (unit_zh), the commission included
    subject: str
    body: str
    run_id: str | None = None


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = DEFAULT_FROM
    starttls: bool = False
    use_ssl: bool = False
    timeout: float = TIMEOUT_SECONDS


# --------------------------------------------------------------------------- masking


def mask_id_numbers(text: str) -> str:
    """Any 15- or 18-character ID number in `text` masked; logged when it happens."""
    masked = _ID_NUMBER.sub("[masked]", text)
    if masked != text:
        log.warning("an alert text held something shaped like an ID number; it was masked")
    return masked


def _alert(key, kind, severity, recipients, subject, body, run_id) -> Alert:
    units = tuple(dict.fromkeys(u for u in (*recipients, COMMISSION) if u))
    return Alert(key, kind, severity, units, mask_id_numbers(subject), mask_id_numbers(body), run_id)


# --------------------------------------------------------------------------- collecting


def collect_alerts(
    conn: psycopg.Connection,
    run_id: str | None,
    quality: dict | None,
    data_docs: str | None,
    *,
    today: dt.date | None = None,
) -> list[Alert]:
    """The alerts of this run: quality failures, missed targets, high sex ratios, late or
    missing extracts, each routed to its lead unit and the commission.

    Indicators are read from the published `marts.indicator_values`, and only for the
    NEWEST period of each period type of each indicator (its newest month, quarter and
    year): a daily run alerts the current figures, not all history again. The sex ratio at
    birth above its target is alerted as significantly high (`is_significantly_high`) or as
    above the range but not significant. Timeliness (`marts.source_timeliness`): the newest
    due period of each source when it was late, and every period still missing.

    `quality` is the quality gate's summary (`run_quality_gate`'s return value or
    `QualityGateFailed.summary`): its `failed` entries are blocking checks, an optional
    `warned` list warnings. `data_docs` (else the summary's `data_docs`, else the local
    Data Docs index when it exists) and the run id are named in every message. `today`
    (default: today in Asia/Shanghai) dates how long a missing extract is overdue.
    """
    quality = quality or {}
    run_id = run_id or quality.get("run_id")
    docs = _docs_text(data_docs if data_docs is not None else quality.get("data_docs"))
    today = today or dt.datetime.now(TIMEZONE).date()
    footer = _footer(docs, run_id)
    with conn.transaction():
        orgs = _org_names(conn)
        catalog = _catalog(conn)
        alerts = _quality_alerts(quality, catalog, orgs, footer, run_id)
        alerts += _indicator_alerts(conn, orgs, footer, run_id)
        alerts += _timeliness_alerts(conn, today, footer, run_id)
    log.info("%d alerts collected (run %s)", len(alerts), run_id)
    return alerts


def _exists(conn, relation: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (relation,)).fetchone()[0]


def _org_names(conn) -> dict[str, str]:
    if not _exists(conn, "marts.org_units"):
        return {}
    return dict(conn.execute("select org_code, org_name from marts.org_units").fetchall())


def _catalog(conn) -> dict[str, dict]:
    """Indicator code -> name_zh, lead_unit: the published catalogue, else the seed."""
    for relation in ("marts.indicator_catalog", "reference.ref_indicator_catalog"):
        if _exists(conn, relation):
            rows = conn.execute(f"select indicator_code, name_zh, lead_unit from {relation}").fetchall()
            return {code: {"name_zh": name, "lead_unit": lead} for code, name, lead in rows}
    return {}


def _docs_text(data_docs) -> str | None:
    if isinstance(data_docs, (list, tuple)):
        data_docs = "、".join(str(d) for d in data_docs if d) or None
    if data_docs:
        return str(data_docs)
    index = quality_gate.data_docs_index()
    return f"file://{index}" if index.is_file() else None


def _footer(docs: str | None, run_id: str | None) -> list[str]:
    lines = []
    if docs:
        lines.append(f"数据质量报告（Data Docs）：{docs}")
    lines.append(f"运行编号（run id）：{run_id or '（未提供）'}")
    return lines


def _org_text(orgs: dict[str, str], code: str | None) -> str:
    if not code:
        return ""
    name = orgs.get(code)
    return f"{name}（{code}）" if name else str(code)


def _period_label(period_type: str, start: dt.date) -> str:
    if period_type == "quarter":
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    if period_type == "year":
        return str(start.year)
    return f"{start:%Y-%m}"


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _target_text(direction: str | None, target: float | None, percent: bool) -> str:
    if target is None:
        return "无目标"
    symbol, _ = DIRECTION_WORDS.get(direction or "", (direction or "", ""))
    return f"{symbol} {target:g}{'%' if percent else ''}"


# quality ---------------------------------------------------------------------------


# Timeliness checks of the gate: the late and missing extracts are alerted one by one from
# marts.source_timeliness already, with their unit and days; a second alert would repeat them.
TIMELINESS_CHECKS = frozenset({"late_days", "missing_periods"})


def _quality_alerts(quality: dict, catalog: dict, orgs: dict, footer: list[str], run_id) -> list[Alert]:
    alerts = []
    levels = (("block", quality.get("failed") or []), ("warn", quality.get("warned") or []))
    for level, entries in levels:
        for entry in entries:
            if level == "warn" and entry.get("check") in TIMELINESS_CHECKS:
                continue
            alerts.append(_quality_alert(level, entry, catalog, orgs, footer, run_id))
    return alerts


def _sample_text(sample: dict, catalog: dict, orgs: dict) -> str:
    parts = []
    for k, v in sample.items():
        text = f"{k}={v}"
        if k == "org_code" and v in orgs:
            text += f"（{orgs[v]}）"
        elif k == "indicator_code" and v in catalog:
            text += f"（{catalog[v]['name_zh']}）"
        parts.append(text)
    return "，".join(parts)


def _quality_alert(level: str, entry: dict, catalog: dict, orgs: dict, footer: list[str], run_id) -> Alert:
    check = str(entry.get("check") or entry.get("expectation") or "unknown_check")
    description = str(entry.get("description") or check)
    table = entry.get("table") or ""
    samples = [s for s in entry.get("samples") or [] if isinstance(s, dict)]
    units = []
    for s in samples:  # the lead units of what the failing rows are about
        if s.get("indicator_code") in catalog:
            units.append(catalog[s["indicator_code"]]["lead_unit"])
        if s.get("source_code") in registry.SOURCES_BY_CODE:
            units.append(registry.SOURCES_BY_CODE[s["source_code"]].unit_zh)
    if level == "block":
        tag, severity = "质量检查未通过·已阻止发布", "critical"
        effect = "阻断（候选数据未发布，已发布的数据保持上一版不变）"
    else:
        tag, severity = "质量检查警告", "warning"
        effect = "警告（不阻断发布），请核查"
    lines = [
        f"检查：{check}" + (f"（{entry['expectation']}）" if entry.get("expectation") else ""),
        f"说明：{description}",
        f"级别：{effect}",
    ]
    if table:
        lines.append(f"检查对象：{table}")
    if entry.get("observed"):
        lines.append(f"结果：{entry['observed']}")
    if samples:
        lines.append("样例：")
        lines += [f"  - {_sample_text(s, catalog, orgs)}" for s in samples[:MAX_SAMPLES]]
        total = entry.get("unexpected_count")
        shown = min(len(samples), MAX_SAMPLES)
        if isinstance(total, int) and total > shown:
            lines.append(f"  … 另有 {total - shown} 条")
    lines += footer
    short = description if len(description) <= 60 else description[:59] + "…"
    subject = f"【{tag}】{check}：{short}"
    key = f"quality|{level}|{check}|{table}"
    return _alert(key, f"quality_{level}", severity, units, subject, "\n".join(lines), run_id)


# indicators ------------------------------------------------------------------------

_MISSED_TARGETS = """
with newest as (
    select indicator_code, period_type, max(period_start) as period_start
    from marts.indicator_values
    group by indicator_code, period_type
)
select v.indicator_code, c.name_zh, c.unit, c.lead_unit, v.org_code, v.org_level,
       v.period_type, v.period_start, v.period_end, v.period_label, v.reference_date,
       v.is_partial, v.numerator, v.denominator, v.value, v.target_value, c.target_direction,
       v.ci_low, v.ci_high, v.is_significantly_high, v.lead_unit as row_lead_unit
from marts.indicator_values v
join newest using (indicator_code, period_type, period_start)
left join marts.indicator_catalog c using (indicator_code)
where v.target_met = false
order by v.indicator_code, array_position(array['month', 'quarter', 'year'], v.period_type),
         v.org_level, v.org_code
"""


def _indicator_alerts(conn, orgs: dict, footer: list[str], run_id) -> list[Alert]:
    if not (_exists(conn, "marts.indicator_values") and _exists(conn, "marts.indicator_catalog")):
        log.info("no published marts.indicator_values yet: no indicator alerts")
        return []
    cur = conn.execute(_MISSED_TARGETS)
    names = [d.name for d in cur.description]
    return [_indicator_alert(dict(zip(names, row)), orgs, footer, run_id) for row in cur.fetchall()]


def _indicator_alert(r: dict, orgs: dict, footer: list[str], run_id) -> Alert:
    code = r["indicator_code"]
    name = r["name_zh"] or code
    percent = r["unit"] != "males per 100 females" and code != SEX_RATIO
    label = r["period_label"] or _period_label(r["period_type"], r["period_start"])
    org_name = orgs.get(r["org_code"], r["org_code"])
    value = _number(r["value"]) + ("%" if percent else "")
    target = _target_text(r["target_direction"], r["target_value"], percent)
    lead = r["lead_unit"] or r["row_lead_unit"]
    ci = f"[{_number(r['ci_low'])}, {_number(r['ci_high'])}]"

    if code == SEX_RATIO and r["is_significantly_high"]:
        kind, severity, tag = "sex_ratio_significantly_high", "critical", "显著偏高"
        verdict = (f"判断：高于目标 {r['target_value']:g}，且 95% 置信区间 {ci} 的下限高于 "
                   f"{r['target_value']:g}：显著偏高。")
        ratio = f"分子/分母（男婴/女婴）：{r['numerator']}/{r['denominator']}"
    elif code == SEX_RATIO:
        # wording avoids "显著偏高": this is the "above the range, not significant" case
        kind, severity, tag = "sex_ratio_above_range", "notice", "高于目标·不显著"
        verdict = (f"判断：高于目标 {r['target_value']:g}，但 95% 置信区间 {ci} 的下限不高于 "
                   f"{r['target_value']:g}，统计上不显著，请持续关注。")
        ratio = f"分子/分母（男婴/女婴）：{r['numerator']}/{r['denominator']}"
    else:
        kind, severity, tag = "target_missed", "warning", "指标未达标"
        _, words = DIRECTION_WORDS.get(r["target_direction"] or "", ("", ""))
        verdict = f"判断：未达标（应{words} {r['target_value']:g}{'%' if percent else ''}）。" if words else "判断：未达标。"
        ratio = f"分子/分母：{r['numerator']}/{r['denominator']}"

    lines = [
        f"指标：{name}（{code}）",
        f"地区：{_org_text(orgs, r['org_code'])}",
        f"周期：{label}（{PERIOD_NAMES.get(r['period_type'], r['period_type'])}，"
        f"{r['period_start']} 至 {r['period_end']}）",
        f"指标值：{value}，目标：{target}",
        verdict,
        ratio,
        f"牵头单位：{lead}",
    ]
    if r["is_partial"]:
        lines.append(f"注意：本周期数据截至 {r['reference_date']}，周期尚不完整。")
    lines.append(f"查看：marts.indicator_values（indicator_code={code}，org_code={r['org_code']}，"
                 f"period_type={r['period_type']}，period_start={r['period_start']}）")
    lines += footer
    subject = f"【{tag}】{name} · {org_name} · {label}：{value}（目标 {target}）"
    key = f"{kind}|{code}|{r['org_code']}|{r['period_type']}|{r['period_start']}"
    return _alert(key, kind, severity, [lead], subject, "\n".join(lines), run_id)


# timeliness ------------------------------------------------------------------------

_TIMELINESS = """
with newest_due as (
    select source_code, period_type, max(period_start) as period_start
    from marts.source_timeliness
    where status <> 'not_yet_due'
    group by source_code, period_type
)
select t.source_code, t.delivering_unit, t.period_type, t.period_start, t.period_end, t.due_date,
       t.first_arrived_at, t.status, t.days_late
from marts.source_timeliness t
left join newest_due n using (source_code, period_type, period_start)
where t.status = 'missing' or (t.status = 'late' and n.source_code is not null)
order by t.source_code, t.period_start
"""


def _timeliness_alerts(conn, today: dt.date, footer: list[str], run_id) -> list[Alert]:
    if not _exists(conn, "marts.source_timeliness"):
        return []
    cur = conn.execute(_TIMELINESS)
    names = [d.name for d in cur.description]
    return [_timeliness_alert(dict(zip(names, row)), today, footer, run_id) for row in cur.fetchall()]


def _timeliness_alert(r: dict, today: dt.date, footer: list[str], run_id) -> Alert:
    code = r["source_code"]
    src = registry.SOURCES_BY_CODE.get(code)
    unit = src.unit_zh if src else r["delivering_unit"]
    name = src.name_zh if src else code
    label = _period_label(r["period_type"], r["period_start"])
    lines = [
        f"数据源：{name}（{code}）",
        f"报送单位：{unit}",
        f"周期：{label}（{r['period_start']} 至 {r['period_end']}）",
        f"报送截止日：{r['due_date']}",
    ]
    if r["status"] == "late":
        kind, severity, tag = "extract_late", "warning", "数据报送逾期"
        days = r["days_late"]
        arrived = r["first_arrived_at"].astimezone(TIMEZONE).strftime("%Y-%m-%d %H:%M")
        lines += [f"首次送达：{arrived}（北京时间）", f"逾期天数：{days} 天"]
        subject = f"【{tag}】{name} · {unit} · {label}：逾期 {days} 天"
    else:
        kind, severity, tag = "extract_missing", "critical", "数据未报送"
        days = max(0, (today - r["due_date"]).days)
        lines += [f"首次送达：尚未收到有效数据", f"逾期天数：{days} 天（截至 {today}）"]
        subject = f"【{tag}】{name} · {unit} · {label}：已逾期 {days} 天未报送"
    lines.append(f"查看：marts.source_timeliness（source_code={code}，period_type={r['period_type']}，"
                 f"period_start={r['period_start']}）；送达记录见 ingest.file_deliveries")
    lines += footer
    key = f"{kind}|{code}|{r['period_type']}|{r['period_start']}"
    return _alert(key, kind, severity, [unit], subject, "\n".join(lines), run_id)


# --------------------------------------------------------------------------- configuration


def _airflow_connection(conn_id: str):
    """The Airflow connection `conn_id`, or None when Airflow or the connection is absent."""
    try:
        from airflow.sdk import BaseHook

        return BaseHook.get_connection(conn_id)
    except Exception:  # noqa: BLE001 - no Airflow here, or no such connection
        log.debug("no Airflow connection %s", conn_id)
        return None


def smtp_settings() -> SmtpSettings | None:
    """SMTP settings from the Airflow connection `fp_smtp`, else FPWH_SMTP_URL; None if neither."""
    conn = _airflow_connection(SMTP_CONN_ID)
    if conn is not None and conn.host:
        extra = conn.extra_dejson or {}
        return SmtpSettings(
            host=conn.host,
            port=int(conn.port or (465 if extra.get("ssl") else 25)),
            login=conn.login or None,
            password=conn.password or None,
            sender=extra.get("from") or os.environ.get(FROM_ENV) or DEFAULT_FROM,
            starttls=_truthy(extra.get("starttls", False)),
            use_ssl=_truthy(extra.get("ssl", False)),
        )
    url = os.environ.get(SMTP_URL_ENV)
    if not url:
        return None
    split = urlsplit(url)
    if split.scheme not in ("smtp", "smtp+starttls", "smtps") or not split.hostname:
        raise ValueError(f"{SMTP_URL_ENV} must look like smtp://host:port (or smtp+starttls://, smtps://)")
    return SmtpSettings(
        host=split.hostname,
        port=split.port or (465 if split.scheme == "smtps" else 25),
        login=unquote(split.username) if split.username else None,
        password=unquote(split.password) if split.password else None,
        sender=os.environ.get(FROM_ENV) or DEFAULT_FROM,
        starttls=split.scheme == "smtp+starttls",
        use_ssl=split.scheme == "smtps",
    )


def _truthy(value) -> bool:
    return value is True or str(value).strip().lower() in ("1", "true", "yes", "on")


def webhook_url(unit: str, conn_id: str | None) -> str | None:
    """The chat robot URL of a unit: its Airflow connection, else its environment variable,
    else (the commission only) FPWH_WEBHOOK_URL. None: the unit has no robot."""
    url = None
    if conn_id:
        conn = _airflow_connection(conn_id)
        if conn is not None:
            url = _url_of_connection(conn)
        url = url or os.environ.get(conn_id.upper())
    if not url and unit == COMMISSION:
        url = os.environ.get(DEFAULT_WEBHOOK_ENV)
    return url or None


def _url_of_connection(conn) -> str | None:
    extra = conn.extra_dejson or {}
    if extra.get("url"):
        return extra["url"]
    if not conn.host:
        return None
    if conn.host.startswith(("http://", "https://")):
        base = conn.host
    else:
        base = f"{conn.schema or 'https'}://{conn.host}" + (f":{conn.port}" if conn.port else "")
    url = base.rstrip("/") + (extra.get("endpoint") or "")
    if conn.password:
        url += ("&" if "?" in url else "?") + "key=" + conn.password
    return url


def _recipients(conn) -> dict[str, tuple[str | None, str | None]]:
    if not _exists(conn, RECIPIENTS_TABLE):
        raise RuntimeError(f"{RECIPIENTS_TABLE} is missing: run `dbt seed` (the seed ref_alert_recipients)")
    rows = conn.execute(f"select unit_zh, email, webhook_conn_id from {RECIPIENTS_TABLE}").fetchall()
    return {unit: (email or None, conn_id or None) for unit, email, conn_id in rows}


# --------------------------------------------------------------------------- delivering


class _Mailer:
    """One SMTP session for a delivery, reopened after a failure."""

    def __init__(self, settings: SmtpSettings):
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        if s.use_ssl:
            smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            if s.starttls:
                smtp.starttls(context=ssl.create_default_context())
        if s.login:
            smtp.login(s.login, s.password or "")
        return smtp

    def send(self, alert: Alert, unit: str, address: str) -> None:
        # compat32 MIMEText and Header: the newer EmailMessage folding drops the space between
        # two RFC 2047 encoded words of a Chinese subject ("目标 ≥ 90%" would arrive as "目标≥ 90%")
        msg = MIMEText(alert.body, "plain", "utf-8")
        msg["Subject"] = Header(alert.subject, "utf-8")
        msg["From"] = formataddr((SENDER_NAME, self.settings.sender), charset="utf-8")
        msg["To"] = formataddr((unit, address), charset="utf-8")
        msg["Date"] = formatdate(localtime=True)
        msg["Message-ID"] = make_msgid(domain=self.settings.sender.rpartition("@")[2] or None)
        msg["X-FPWH-Alert-Key"] = alert.key if alert.key.isascii() else Header(alert.key, "utf-8")
        try:
            if self._smtp is None:
                self._smtp = self._open()
            self._smtp.send_message(msg)
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except Exception:  # noqa: BLE001 - the session is gone either way
                pass
            self._smtp = None


def webhook_content(alert: Alert) -> str:
    """The robot's markdown: the subject in bold, the body as quoted lines, at most 4000 bytes."""
    content = f"**{alert.subject}**\n" + "\n".join(f"> {line}" if line else ">" for line in alert.body.splitlines())
    data = content.encode("utf-8")
    if len(data) > WEBHOOK_MAX_BYTES:
        content = data[: WEBHOOK_MAX_BYTES - 20].decode("utf-8", "ignore") + "\n> …（详见邮件）"
    return content


def _post_webhook(url: str, alert: Alert) -> None:
    payload = {"msgtype": "markdown", "markdown": {"content": webhook_content(alert)}}
    request = urllib.request.Request(
        url, data=json.dumps(payload, ensure_ascii=False).encode("utf-8"), method="POST",
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            answer = response.read()
    except urllib.error.HTTPError as exc:  # its text names no URL (the URL holds the key)
        raise RuntimeError(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise RuntimeError(f"unreachable: {exc.reason}") from None
    try:  # the WeCom robot answers 200 with {"errcode": 0, "errmsg": "ok"}, or an errcode
        reply = json.loads(answer or b"{}")
    except ValueError:
        return
    if isinstance(reply, dict) and reply.get("errcode") not in (None, 0):
        raise RuntimeError(f"robot error {reply.get('errcode')}: {reply.get('errmsg')}")


def _already_sent(conn, key: str, since: dt.datetime) -> bool:
    with conn.transaction():
        return conn.execute(
            "select exists (select 1 from alerts.sent_alerts where alert_key = %s and not suppressed "
            "and cardinality(channels) > 0 and sent_at > %s)", (key, since),
        ).fetchone()[0]


def _record(conn, alert: Alert, channels: list[str], errors: list[str], now: dt.datetime, suppressed: bool) -> None:
    with conn.transaction():
        conn.execute(
            "insert into alerts.sent_alerts (alert_key, kind, severity, recipients, subject, body, "
            "channels, errors, run_id, sent_at, suppressed) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (alert.key, alert.kind, alert.severity, list(alert.recipients), alert.subject, alert.body,
             channels, errors, alert.run_id, now, suppressed),
        )


def ensure_alerts_table(conn: psycopg.Connection) -> None:
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('fpwh_alerts_ddl'))")
        conn.execute(SENT_ALERTS_DDL)


def deliver(
    conn: psycopg.Connection,
    alerts: Iterable[Alert],
    *,
    smtp: SmtpSettings | None = None,
    webhook_urls: Mapping[str, str] | None = None,
    suppress_for: dt.timedelta = dt.timedelta(hours=24),
    now: dt.datetime | None = None,
) -> dict:
    """Send each alert not delivered within `suppress_for` (same key) and record every one.

    Email: one message per recipient unit, to its address in reference.ref_alert_recipients.
    Webhook: one post per distinct robot URL of the recipients. `smtp` (default: the
    configured settings, see the module) and `webhook_urls` (unit_zh -> URL; default: the
    configured robots) override the configuration. An alert counts as delivered — and
    suppresses its key — when it reached at least one channel.

    Each row of alerts.sent_alerts is committed as it is written when `conn` has no open
    transaction. Returns counts {alerts, sent, suppressed, failed, emails, webhooks};
    raises AlertDeliveryFailed (with the counts) after trying everything when any alert
    missed a channel it should have reached.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.timezone.utc)
    alerts = list(alerts)
    result = {"alerts": len(alerts), "sent": 0, "suppressed": 0, "failed": 0, "emails": 0, "webhooks": 0}
    ensure_alerts_table(conn)
    if not alerts:
        return result
    with conn.transaction():
        routing = _recipients(conn)
    settings = smtp if smtp is not None else smtp_settings()
    mailer = _Mailer(settings) if settings else None
    robots: dict[str, str | None] = {}

    def robot(unit: str) -> str | None:
        if webhook_urls is not None:
            return webhook_urls.get(unit)
        if unit not in robots:
            robots[unit] = webhook_url(unit, routing.get(unit, (None, None))[1])
        return robots[unit]

    if mailer is None:
        log.warning("no SMTP settings (Airflow connection %s or %s): alerts go by webhook only",
                    SMTP_CONN_ID, SMTP_URL_ENV)
    failures: list[str] = []
    since = now - suppress_for
    try:
        for alert in alerts:
            alert = Alert(alert.key, alert.kind, alert.severity, alert.recipients,
                          mask_id_numbers(alert.subject), mask_id_numbers(alert.body), alert.run_id)
            if _already_sent(conn, alert.key, since):
                _record(conn, alert, [], [], now, suppressed=True)
                result["suppressed"] += 1
                continue
            channels, errors = [], []
            if mailer is not None:
                for unit in alert.recipients:
                    address = routing.get(unit, (None, None))[0]
                    if not address:
                        errors.append(f"email:{unit}: no address in {RECIPIENTS_TABLE}")
                        continue
                    try:
                        mailer.send(alert, unit, address)
                        channels.append(f"email:{unit}")
                        result["emails"] += 1
                    except Exception as exc:  # noqa: BLE001 - recorded, logged, raised at the end
                        errors.append(f"email:{unit}: {type(exc).__name__}: {exc}"[:500])
            posted: set[str] = set()
            for unit in alert.recipients:
                url = robot(unit)
                if not url or url in posted:
                    continue
                posted.add(url)
                try:
                    _post_webhook(url, alert)
                    channels.append(f"webhook:{unit}")
                    result["webhooks"] += 1
                except Exception as exc:  # noqa: BLE001 - recorded, logged, raised at the end
                    errors.append(f"webhook:{unit}: {exc}"[:500])
            if not channels and not errors:
                errors.append("no delivery channel configured (SMTP or webhook)")
            errors = [mask_id_numbers(e) for e in errors]
            _record(conn, alert, channels, errors, now, suppressed=False)
            if errors:
                result["failed"] += 1
                failures.append(f"{alert.key}: {'; '.join(errors)}")
                log.error("alert %s not fully delivered: %s", alert.key, "; ".join(errors))
            if channels:
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


def run_alerts(run_id: str | None = None, quality: dict | None = None, data_docs: str | None = None) -> dict:
    """Collect and deliver this run's alerts on the warehouse (WAREHOUSE_URL), as the DAG would."""
    from include import warehouse

    with warehouse.connect() as conn:
        return deliver(conn, collect_alerts(conn, run_id, quality, data_docs))
