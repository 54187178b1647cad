"""Alerts (include/notify/) delivered to a real SMTP server and a real HTTP webhook.

An aiosmtpd server and a ThreadingHTTPServer (the chat robot) listen on free localhost
ports for the module. Each test gets a fresh database (conftest `fresh_db`) holding
minimal published marts (indicator_values, indicator_catalog, org_units,
source_timeliness, with the contract's columns) and the recipients seed loaded from
dbt_project/seeds/ref_alert_recipients.csv into reference.ref_alert_recipients, as
`dbt seed` does. The assertions read what the servers received.
"""

from __future__ import annotations

import csv
import datetime as dt
import email
import email.policy
import json
import socket

import psycopg
import pytest
from aiosmtpd.controller import Controller

from include import config
from include.config import PROJECT_ROOT
from include.errors import AlertDeliveryFailed
from include.notify import channels as notify_channels
from include.notify import collect, deliver, digest
from include.transform import marts_contract
from include.warehouse import schema
from tests.oracle import wilson_ratio

SEED = PROJECT_ROOT / "dbt_project" / "seeds" / "ref_alert_recipients.csv"
THRESHOLDS_SEED = PROJECT_ROOT / "dbt_project" / "seeds" / "ref_quality_thresholds.csv"
CATALOG_SEED = PROJECT_ROOT / "dbt_project" / "seeds" / "ref_indicator_catalog.csv"
RUN_ID = "manual__2026-03-10T08:00:00+00:00"
DOCS = f"file://{config.GX_DATA_DOCS_DIR / 'index.html'}"  # as GX names its site's index
PUBLIC = "https://fpwh.example.gov.cn/reports"
DOCS_LINK = f"{PUBLIC}/data_docs/index.html"  # what a recipient can open
REPORT = f"{PUBLIC}/report/index.html"
TODAY = dt.date(2026, 3, 10)
T0 = dt.datetime(2026, 3, 10, 8, 0, tzinfo=dt.UTC)
JSW, WSJ, MZJ = "jsw@example.gov.cn", "wsj@example.gov.cn", "mzj@example.gov.cn"

MARTS_DDL = """
create schema marts;
create schema reference;
create table marts.org_units (
    org_code text primary key, org_name text not null, org_name_en text, org_level text,
    org_kind text, parent_code text, valid_from date, valid_to date
);
create table marts.indicator_catalog (
    indicator_code text primary key, name_zh text not null, name_en text not null, kind text,
    period_types text[], definition text, numerator_definition text, denominator_definition text,
    unit text, target_value double precision, target_direction text, lead_unit text,
    cooperating_units text[], plan_task text, org_levels text[], sources_read text[]
);
create table marts.indicator_values ({contract});
create table marts.source_timeliness (
    source_code text not null, delivering_unit text, period_type text not null,
    period_start date not null, period_end date not null, due_date date not null,
    first_arrived_at timestamptz, status text not null, days_late integer
);
create table reference.ref_alert_recipients (unit_zh text, email text, webhook_conn_id text);
create table reference.ref_quality_thresholds (
    check_name text, scope text, warn_level numeric, block_level numeric, min_rows integer, unit text,
    description text, description_zh text
);
insert into marts.org_units (org_code, org_name, org_level, parent_code) values
    ('310112', '闵行区', 'district', null),
    ('310112101', '莘庄镇', 'town', '310112'),
    ('310112102', '七宝镇', 'town', '310112'),
    ('310112103', '颛桥镇', 'town', '310112');
insert into marts.source_timeliness values
    -- wsj_csyxzm: January on time, February (its newest due period) 3 days late
    ('wsj_csyxzm', '区卫生局', 'month', '2026-01-01', '2026-01-31', '2026-02-05', '2026-02-03 02:00+00', 'on_time', 0),
    ('wsj_csyxzm', '区卫生局', 'month', '2026-02-01', '2026-02-28', '2026-03-05', '2026-03-08 02:00+00', 'late', 3),
    ('wsj_csyxzm', '区卫生局', 'month', '2026-03-01', '2026-03-31', '2026-04-05', null, 'not_yet_due', null),
    -- gaj_hjrk: January late but February on time: January is history, not alerted again
    ('gaj_hjrk', '区公安分局', 'month', '2026-01-01', '2026-01-31', '2026-02-05', '2026-02-09 02:00+00', 'late', 4),
    ('gaj_hjrk', '区公安分局', 'month', '2026-02-01', '2026-02-28', '2026-03-05', '2026-03-02 02:00+00', 'on_time', 0),
    -- mzj_hydj: February never arrived
    ('mzj_hydj', '区民政局', 'month', '2026-02-01', '2026-02-28', '2026-03-05', null, 'missing', null);
""".replace("{contract}", ", ".join(c.ddl() for c in marts_contract.columns()))  # as dbt builds it

CATALOG = {  # code: (name_zh, name_en, unit, target, direction, lead)
    "fp_rate_floating": ("流动人口计划生育率", "FP rate, floating", "percent", 90.0, ">=", "区人口计生委"),
    "sex_ratio_at_birth": ("出生人口性别比", "Sex ratio at birth", "males per 100 females", 107.0, "<=", "区卫生局"),
}

Q1 = ("quarter", dt.date(2026, 1, 1), dt.date(2026, 3, 31), "2026-Q1")
Q4 = ("quarter", dt.date(2025, 10, 1), dt.date(2025, 12, 31), "2025-Q4")



def value_rows() -> list[tuple]:
    rows = []

    def rate(code, org, period, num, den):
        name, _, _, target, _, lead = CATALOG[code]
        value = 100.0 * num / den
        ptype, start, end, label = period
        rows.append((code, org, "town", ptype, start, end, label, end, False, num, den, value, target,
                     value >= target, lead, None, None, None, None))

    def sex_ratio(org, males, females):
        low, high = wilson_ratio(males, females)
        value = 100.0 * males / females
        ptype, start, end, label = Q1
        status = ("significantly high" if low > 107 else "too few births to tell" if high - low > 40
                  else "high, not significant" if value > 107 else "normal")
        rows.append(("sex_ratio_at_birth", org, "town", ptype, start, end, label, end, False, males, females,
                     value, 107.0, value <= 107, "区卫生局", low, high, low > 107, status))

    rate("fp_rate_floating", "310112101", Q1, 17, 20)  # 85 % < 90: missed
    rate("fp_rate_floating", "310112101", Q4, 10, 20)  # missed, but not the newest quarter
    rate("fp_rate_floating", "310112102", Q1, 19, 20)  # 95 %: met
    sex_ratio("310112101", 300, 200)  # 150, significantly high
    sex_ratio("310112102", 110, 100)  # 110, above 107 but not significant (too few births to tell)
    sex_ratio("310112103", 100, 100)  # 100: met
    return rows


QUALITY = {
    "success": False,
    "checkpoint": "candidate_marts_checkpoint",
    "evaluated": 24,
    "run_id": RUN_ID,
    "data_docs": DOCS,
    "failed": [{
        "check": "numerator_le_denominator",
        "expectation": "unexpected_rows_expectation",
        "description": "分子不大于分母（性别比除外）",
        "table": "candidate.indicator_values",
        "observed": "3 unexpected rows",
        "unexpected_count": 3,
        "samples": [{"indicator_code": "fp_rate_floating", "org_code": "310112101", "period_type": "month",
                     "period_start": "2026-01-01", "note": "from 31011219800101123X"}],
    }],
    "warned": [{
        "check": "row_count_stable",
        "expectation": "expect_table_row_count_to_be_between",
        "description": "行数与上次发布相比变化不大",
        "table": "candidate.indicator_values",
        "observed": "120 rows",
        "unexpected_count": None,
        "samples": [{"indicator_code": "sex_ratio_at_birth"}],
    }],
}


# --------------------------------------------------------------------------- servers


class _Sink:
    def __init__(self):
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def public_base_url(monkeypatch):
    monkeypatch.setenv(config.PUBLIC_BASE_URL_ENV, PUBLIC)


@pytest.fixture(scope="module")
def smtp_server():
    sink = _Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield controller, sink
    finally:
        controller.stop()


@pytest.fixture
def channels(smtp_server, robot_server):
    """Delivery settings pointing at the test servers, with their inboxes emptied."""
    controller, sink = smtp_server
    sink.messages.clear()
    robot_server.posts.clear()
    base = f"http://127.0.0.1:{robot_server.server_address[1]}"
    return {
        "smtp": notify_channels.SmtpSettings(host="127.0.0.1", port=controller.port,
                                             sender="fpwh-alerts@example.gov.cn"),
        "webhook_urls": {"区人口计生委": f"{base}/jsw", "区卫生局": f"{base}/wsj"},
        "sink": sink,
        "robot": robot_server,
        "base": base,
    }


@pytest.fixture
def conn(fresh_db):
    with psycopg.connect(fresh_db) as connection:
        schema.apply(connection)  # alerts.sent_alerts, as the pipeline's first task makes it
        connection.execute(MARTS_DDL)
        with connection.cursor() as cur:
            cur.executemany("insert into marts.indicator_catalog (indicator_code, name_zh, name_en, unit, "
                            "target_value, target_direction, lead_unit) values (%s, %s, %s, %s, %s, %s, %s)",
                            [(code, *row) for code, row in CATALOG.items()])
            cur.executemany("insert into marts.indicator_values values ("
                            + ", ".join(["%s"] * len(marts_contract.columns())) + ")",
                            value_rows())
            with SEED.open(encoding="utf-8", newline="") as fh:
                cur.executemany("insert into reference.ref_alert_recipients values (%s, %s, %s)",
                                [(r["unit_zh"], r["email"], r["webhook_conn_id"]) for r in csv.DictReader(fh)])
            with THRESHOLDS_SEED.open(encoding="utf-8", newline="") as fh:
                cur.executemany("insert into reference.ref_quality_thresholds values (%s, %s, %s, %s, %s, %s, %s, %s)",
                                [tuple(v or None for v in r.values()) for r in csv.DictReader(fh)])
        connection.commit()
        yield connection


def mailbox(sink: _Sink, address: str) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(content, policy=email.policy.default)
            for rcpts, content in sink.messages if address in rcpts]


def parts(message) -> tuple[str, str]:
    """The plain text and the HTML of a digest (multipart/alternative)."""
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    markup = message.get_body(("html",)).get_content()
    return text, markup


def only(messages):
    assert len(messages) == 1, f"expected one digest, got {[m['Subject'] for m in messages]}"
    return messages[0]


def sent_rows(conn) -> list[tuple]:
    return conn.execute("select alert_key, status, suppressed, channels, errors, sent_at from alerts.sent_alerts "
                        "order by alert_id").fetchall()


def robot_contents(channels, path: str) -> list[str]:
    return [json.loads(b)["markdown"]["content"] for p, _, b in channels["robot"].posts if p == path]


def deliver_now(conn, channels, when, **overrides):
    kw = {"smtp": channels["smtp"], "webhook_urls": channels["webhook_urls"]} | overrides
    links = digest.Links(report=REPORT, data_docs=collect.docs_link(DOCS), run_id=RUN_ID)
    return deliver.deliver(conn, collect.collect_alerts(conn, RUN_ID, QUALITY, today=TODAY), links=links, now=when,
                           **kw)


KEY_SEX_RATIO = "sex_ratio_significantly_high|sex_ratio_at_birth|310112101|quarter|2026-01-01"
KEY_MISSED = "target_missed|fp_rate_floating|310112101|quarter|2026-01-01"


# --------------------------------------------------------------------------- tests


def test_one_digest_per_recipient_with_its_units_items(conn, channels):
    collected = collect.collect_alerts(conn, RUN_ID, QUALITY, today=TODAY)
    assert sorted(a.kind for a in collected) == sorted(["quality_block", "quality_warn", "target_missed",
                                                        "sex_ratio_significantly_high", "sex_ratio_above_range",
                                                        "extract_late", "extract_missing"])
    assert not any("2025-10-01" in a.key or "gaj_hjrk" in a.key for a in collected), "only the newest periods"

    result = deliver_now(conn, channels, T0)
    assert (result["items"], result["new"], result["emails"], result["webhooks"]) == (7, 7, 3, 2)
    assert result["failed"] == 0 and result["suppressed"] == 0
    sink = channels["sink"]
    assert sorted(r for rcpts, _ in sink.messages for r in rcpts) == sorted([JSW, WSJ, MZJ]), "one per recipient"

    # the commission: every item, grouped by what needs action, in this order
    jsw = only(mailbox(sink, JSW))
    text, markup = parts(jsw)
    assert jsw["Subject"] == ("【人口计生数据·区人口计生委】新增 7 项需处理：已阻止发布 1，数据质量警告 1，"
                              "未达标指标 1，出生人口性别比显著偏高 1，出生人口性别比高于目标但不显著（请关注） 1，"
                              "数据报送逾期或未报送 2")
    headings = ["一、已阻止发布（1 项）", "二、数据质量警告（1 项）", "三、未达标指标（1 项）",
                "四、出生人口性别比显著偏高（1 项）", "五、出生人口性别比高于目标但不显著（请关注）（1 项）",
                "六、数据报送逾期或未报送（2 项）"]
    assert [text.index(h) for h in headings] == sorted(text.index(h) for h in headings)
    for needle in (
        # a missed target under its indicator: where, which period, value against target, counts
        "流动人口计划生育率（fp_rate_floating）· 目标 ≥ 90%", "【新】莘庄镇 · 2026-Q1：85.00%（17/20）",
        # the check in words for people, its code in parentheses, the failing rows' samples
        "【新】百分比指标的分子大于分母（numerator_le_denominator）：不符 3 行", "处理：已阻止发布",
        "指标：流动人口计划生育率（fp_rate_floating），地区：莘庄镇（310112101）", "另有 2 条",
        # the sex ratio with its interval and births
        "莘庄镇 · 2026-Q1：150.00，95% 区间", "男婴/女婴：300/200",
        # above 107 but not significantly: said so, apart from the significantly high
        "【新】七宝镇 · 2026-Q1：110.00，95% 区间",
        # extracts: late by 3 days, arrived when; missing for 5 days
        "出生医学证明（wsj_csyxzm）· 区卫生局", "2026-02：逾期 3 天送达（截止 2026-03-05，2026-03-08 10:00 送达）",
        "婚姻登记（mzj_hydj）· 区民政局", "2026-02：已逾期 5 天未报送（截止 2026-03-05）",
        # where to look, once at the end
        f"{REPORT}#indicator-fp_rate_floating", f"{REPORT}#timeliness", RUN_ID, DOCS_LINK,
    ):
        assert needle in text, needle
    assert "31011219800101123X" not in text + markup and "[masked]" in text
    assert "No delivery" not in text and "unexpected" not in text and "共 120 行，不在预期范围内" in text
    assert "<h2" in markup and f'href="{REPORT}#sex-ratio"' in markup and "莘庄镇 · 2026-Q1：85.00%（17/20）" in markup
    raw = next(c for r, c in sink.messages if r == [JSW])
    assert raw.decode("ascii")  # headers encoded (RFC 2047), bodies transfer-encoded: 7-bit clean
    assert str(jsw["To"]) == f"区人口计生委 <{JSW}>"

    # a unit gets its own items only: 区卫生局 the sex ratio, the warning about it, its late extract
    wsj_text, _ = parts(only(mailbox(sink, WSJ)))
    notice = wsj_text[wsj_text.index("高于目标但不显著（请关注）（1 项）"):]
    assert "七宝镇" in notice and "显著偏高" not in notice and "七宝镇" not in wsj_text[:wsj_text.index(notice)]
    assert "95% 区间 [83.97, 144.09]，出生数太少，无法判断" in notice
    assert "150.00" in wsj_text and "逾期 3 天" in wsj_text and "row_count_stable" in wsj_text
    assert "fp_rate_floating" not in wsj_text and "婚姻登记" not in wsj_text
    mzj_text, _ = parts(only(mailbox(sink, MZJ)))
    assert "已逾期 5 天未报送" in mzj_text and "出生" not in mzj_text
    assert not mailbox(sink, "gaj@example.gov.cn"), "gaj_hjrk's January is history"

    # the robots: one WeCom markdown message each
    posts = channels["robot"].posts
    assert sorted(p for p, _, _ in posts) == ["/jsw", "/wsj"]
    for _, ctype, body in posts:
        payload = json.loads(body)
        assert ctype.startswith("application/json") and payload["msgtype"] == "markdown"
        assert set(payload["markdown"]) == {"content"} and len(payload["markdown"]["content"].encode()) <= 4096
    (commission_post,) = robot_contents(channels, "/jsw")
    assert "【新】莘庄镇 · 2026-Q1：85.00%（17/20）" in commission_post and f"({REPORT})" in commission_post

    # the record: a row per item, a row per message
    rows = sent_rows(conn)
    assert len(rows) == 7 and {r[1] for r in rows} == {"new"} and not any(r[2] or r[4] for r in rows)
    channels_of = {r[0]: set(r[3]) for r in rows}
    assert channels_of[KEY_SEX_RATIO] == {"email:区卫生局", "email:区人口计生委", "webhook:区卫生局",
                                          "webhook:区人口计生委"}
    assert channels_of[KEY_MISSED] == {"email:区人口计生委", "webhook:区人口计生委"}
    digests = conn.execute("select recipient, channel, items, new_items, error from alerts.sent_digests "
                           "order by channel").fetchall()
    assert digests == [("区人口计生委", "email:区人口计生委", 7, 7, None), ("区卫生局", "email:区卫生局", 4, 4, None),
                       ("区民政局", "email:区民政局", 1, 1, None), ("区人口计生委", "webhook:区人口计生委", 7, 7, None),
                       ("区卫生局", "webhook:区卫生局", 4, 4, None)]


def test_an_unchanged_item_is_still_open_not_new(conn, channels):
    deliver_now(conn, channels, T0)
    emails, posts = len(channels["sink"].messages), len(channels["robot"].posts)

    # two hours later, nothing changed: no message at all, every item recorded as not sent again
    again = deliver_now(conn, channels, T0 + dt.timedelta(hours=2))
    assert (again["still_open"], again["emails"], again["webhooks"], again["suppressed"]) == (7, 0, 0, 7)
    assert len(channels["sink"].messages) == emails and len(channels["robot"].posts) == posts

    # a revised figure: the commission is told of the change; the others have nothing new
    conn.execute("update marts.indicator_values set numerator = 16, value = 80.0 where org_code = '310112101' "
                 "and indicator_code = 'fp_rate_floating' and period_start = '2026-01-01'")
    conn.commit()
    changed = deliver_now(conn, channels, T0 + dt.timedelta(hours=3))
    assert (changed["changed"], changed["still_open"], changed["emails"]) == (1, 6, 1)
    jsw = mailbox(channels["sink"], JSW)[-1]
    text, _ = parts(jsw)
    assert "新增 1 项" in jsw["Subject"] and "【有变化】莘庄镇 · 2026-Q1：80.00%（16/20）" in text
    still = text[text.index("此前已通知、仍未解决（6 项）"):]
    assert "出生人口性别比显著偏高 · 莘庄镇 · 2026-Q1" in still and "自 2026-03-10 16:00 起未解决" in still
    assert "【新】" not in text

    # a day later: unchanged items are due as reminders, listed as still open, none as new
    later = deliver_now(conn, channels, T0 + dt.timedelta(hours=28))
    assert later["emails"] == 3 and later["new"] == later["changed"] == 0
    reminder = mailbox(channels["sink"], MZJ)[-1]
    assert reminder["Subject"] == "【人口计生数据·区民政局】1 项此前已通知，仍未解决"
    assert "自 2026-03-10 16:00 起未解决" in parts(reminder)[0]
    statuses = [r[1] for r in sent_rows(conn)]
    assert len(statuses) == 28 and statuses[21:] == ["still_open"] * 7  # every decision recorded, none updated


def test_a_failing_channel_is_recorded_and_fails_after_trying_all(conn, channels):
    urls = {"区人口计生委": channels["base"] + "/fail", "区卫生局": channels["base"] + "/wsj"}
    with pytest.raises(AlertDeliveryFailed) as failure:
        deliver_now(conn, channels, T0, webhook_urls=urls)
    assert failure.value.result["failed"] == 7
    assert "HTTP 500" in str(failure.value) and "/fail" not in str(failure.value)
    assert failure.value.result["emails"] == 3  # every email still went out
    rows = sent_rows(conn)
    assert all(r[4] == ["webhook:区人口计生委: HTTP 500 Internal Server Error"] for r in rows)
    assert all("email:区人口计生委" in r[3] for r in rows)
    (error,) = conn.execute("select error from alerts.sent_digests where channel = 'webhook:区人口计生委'").fetchone()
    assert error == "HTTP 500 Internal Server Error"
    # told on some channel: not sent again as new an hour later
    assert deliver_now(conn, channels, T0 + dt.timedelta(hours=1), webhook_urls=urls)["emails"] == 0


def test_nothing_configured_keeps_items_undelivered_and_they_are_sent_later(conn, channels, monkeypatch, caplog):
    monkeypatch.setattr(notify_channels, "airflow_connection", lambda conn_id: None)
    for name in (config.SMTP_URL_ENV, config.DEFAULT_WEBHOOK_ENV, "FPWH_WEBHOOK_JSW", "FPWH_WEBHOOK_WSJ",
                 "FPWH_WEBHOOK_MZJ"):
        monkeypatch.delenv(name, raising=False)
    collected = collect.collect_alerts(conn, RUN_ID, None, today=TODAY)
    with caplog.at_level("WARNING"):
        kept = deliver.deliver(conn, collected, now=T0)  # no channel at all: kept, warned once, not a failure
    assert (kept["undelivered"], kept["emails"], kept["failed"]) == (5, 0, 0) and len(collected) == 5
    warned = [r.getMessage() for r in caplog.records if r.name == "include.notify.deliver"]
    assert len(warned) == 1 and "no channel is configured" in warned[0], warned
    rows = conn.execute("select channels, errors, suppressed from alerts.sent_alerts where sent_at = %s",
                        (T0,)).fetchall()
    assert rows == [([], [deliver.NO_CHANNEL], False)] * 5
    # nothing reached anyone, so nothing is old: the next delivery sends them as new
    result = deliver.deliver(conn, collected, smtp=channels["smtp"], webhook_urls=channels["webhook_urls"],
                             now=T0 + dt.timedelta(minutes=5))
    assert result["new"] == 5 and result["emails"] == 3



def test_an_item_whose_recipients_have_no_channel_is_a_failure(conn, channels, monkeypatch):
    monkeypatch.setattr(notify_channels, "smtp_settings", lambda: None)  # robots only, and only 区卫生局's
    with pytest.raises(AlertDeliveryFailed) as failure:
        deliver_now(conn, channels, T0, smtp=None, webhook_urls={"区卫生局": channels["base"] + "/wsj"})
    assert failure.value.result["webhooks"] == 1 and not channels["sink"].messages
    errors = dict(conn.execute("select alert_key, errors from alerts.sent_alerts").fetchall())
    missing = "extract_missing|mzj_hydj|month|2026-02-01"
    assert errors[missing] == [deliver.NO_RECIPIENT_CHANNEL] and errors[KEY_SEX_RATIO] == []
    assert deliver.NO_RECIPIENT_CHANNEL in str(failure.value)
