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
from include.notify import collect, deliver
from include.transform import marts_contract
from include.warehouse import schema
from tests.oracle import wilson_ratio

SEED = PROJECT_ROOT / "dbt_project" / "seeds" / "ref_alert_recipients.csv"
CATALOG_SEED = PROJECT_ROOT / "dbt_project" / "seeds" / "ref_indicator_catalog.csv"
RUN_ID = "manual__2026-03-10T08:00:00+00:00"
DOCS = f"file://{config.GX_DATA_DOCS_DIR / 'index.html'}"  # as GX names its site's index
PUBLIC = "https://fpwh.example.gov.cn/reports"
DOCS_LINK = f"{PUBLIC}/data_docs/index.html"  # what a recipient can open
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
                     value >= target, lead, None, None, None))

    def sex_ratio(org, males, females):
        low, high = wilson_ratio(males, females)
        value = 100.0 * males / females
        ptype, start, end, label = Q1
        rows.append(("sex_ratio_at_birth", org, "town", ptype, start, end, label, end, False, males, females,
                     value, 107.0, value <= 107, "区卫生局", low, high, low > 107))

    rate("fp_rate_floating", "310112101", Q1, 17, 20)  # 85 % < 90: missed
    rate("fp_rate_floating", "310112101", Q4, 10, 20)  # missed, but not the newest quarter
    rate("fp_rate_floating", "310112102", Q1, 19, 20)  # 95 %: met
    sex_ratio("310112101", 300, 200)  # 150, significantly high
    sex_ratio("310112102", 110, 100)  # 110, above 107 but not significant
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
        connection.commit()
        yield connection


def mailbox(sink: _Sink, address: str) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(content, policy=email.policy.default)
            for rcpts, content in sink.messages if address in rcpts]


def find(messages, *needles):
    found = [m for m in messages if all(n in m["Subject"] + m.get_content() for n in needles)]
    assert len(found) == 1, f"expected one message with {needles}, got {[m['Subject'] for m in messages]}"
    return found[0]


def sent_rows(conn) -> list[tuple]:
    return conn.execute("select alert_key, suppressed, channels, errors, sent_at from alerts.sent_alerts "
                        "order by alert_id").fetchall()


# --------------------------------------------------------------------------- tests


def test_alerts_reach_the_responsible_units(conn, channels):
    collected = collect.collect_alerts(conn, RUN_ID, QUALITY, DOCS, today=TODAY)
    kinds = sorted(a.kind for a in collected)
    assert kinds == sorted(["quality_block", "quality_warn", "target_missed", "sex_ratio_significantly_high",
                            "sex_ratio_above_range", "extract_late", "extract_missing"])
    assert not any("2025-10-01" in a.key or "gaj_hjrk" in a.key for a in collected), "only the newest periods"

    result = deliver.deliver(conn, collected, smtp=channels["smtp"], webhook_urls=channels["webhook_urls"], now=T0)
    assert result["sent"] == 7 and result["failed"] == 0 and result["suppressed"] == 0
    sink = channels["sink"]
    assert all(len(rcpts) == 1 for rcpts, _ in sink.messages), "one email per recipient unit"

    # a missed target in 莘庄镇 reaches the commission's mailbox, in Chinese, with the figures
    jsw = mailbox(sink, JSW)
    missed = find(jsw, "【指标未达标】流动人口计划生育率", "莘庄镇")
    text = missed["Subject"] + "\n" + missed.get_content()
    for needle in ("2026-Q1", "85.00%", "≥ 90%", "17/20", "未达标", RUN_ID, DOCS_LINK):
        assert needle in text, needle
    assert not any("file://" in a.body or str(config.PROJECT_ROOT) in a.body for a in collected), "no worker paths"
    raw = next(c for r, c in sink.messages if r == [JSW] and b"X-FPWH-Alert-Key: target_missed" in c)
    assert raw.decode("ascii")  # headers encoded (RFC 2047), body transfer-encoded: 7-bit clean
    assert missed["Subject"] == "【指标未达标】流动人口计划生育率 · 莘庄镇 · 2026-Q1：85.00%（目标 ≥ 90%）"
    assert missed.get_content_charset() == "utf-8"
    assert str(missed["To"]) == f"区人口计生委 <{JSW}>"

    # sex ratios: significantly high vs above the range but not significant, to 区卫生局 and the commission
    wsj = mailbox(sink, WSJ)
    high = find(wsj, "出生人口性别比", "莘庄镇")
    assert "显著偏高" in high["Subject"] + high.get_content() and "150.00" in high.get_content()
    assert "300/200" in high.get_content()
    above = find(wsj, "出生人口性别比", "七宝镇")
    above_text = above["Subject"] + above.get_content()
    assert "不显著" in above_text and "显著偏高" not in above_text and "110.00" in above_text
    find(jsw, "出生人口性别比", "莘庄镇")
    find(jsw, "出生人口性别比", "七宝镇")

    # extracts: late (unit and days late) and missing, to the delivering unit and the commission
    late = find(wsj, "出生医学证明", "逾期")
    late_text = late["Subject"] + late.get_content()
    for needle in ("区卫生局", "wsj_csyxzm", "2026-02", "逾期 3 天", "2026-03-05", "2026-03-08 10:00"):
        assert needle in late_text, needle
    missing = find(mailbox(sink, MZJ), "婚姻登记")
    assert "区民政局" in missing["Subject"] and "已逾期 5 天未报送" in missing["Subject"]
    find(jsw, "出生医学证明", "逾期")
    assert not mailbox(sink, "gaj@example.gov.cn"), "gaj_hjrk's January is history"

    # quality: the check, its description, samples, the run id and the Data Docs path
    block = find(jsw, "numerator_le_denominator")
    block_text = block["Subject"] + block.get_content()
    for needle in ("质量检查未通过", "阻断", "分子不大于分母", "candidate.indicator_values",
                   "fp_rate_floating（流动人口计划生育率）", "310112101（莘庄镇）", "另有 2 条", RUN_ID, DOCS_LINK):
        assert needle in block_text, needle
    assert "31011219800101123X" not in block_text and "[masked]" in block_text
    warn = find(wsj, "row_count_stable")  # routed to the lead unit of the indicator it names
    assert "质量检查警告" in warn["Subject"]

    # the robots: WeCom markdown JSON, one post per distinct robot of the recipients
    posts = channels["robot"].posts
    assert {p for p, _, _ in posts} == {"/jsw", "/wsj"}
    assert len(posts) == 7 + 4  # the commission's robot gets all seven, 区卫生局's four
    for _, ctype, body in posts:
        assert ctype.startswith("application/json")
        payload = json.loads(body)
        assert set(payload) == {"msgtype", "markdown"} and payload["msgtype"] == "markdown"
        assert set(payload["markdown"]) == {"content"} and len(payload["markdown"]["content"].encode()) <= 4096
    contents = [json.loads(b)["markdown"]["content"] for p, _, b in posts if p == "/jsw"]
    headline = "**【指标未达标】流动人口计划生育率 · 莘庄镇 · 2026-Q1：85.00%（目标 ≥ 90%）**"
    assert any(headline in c and "> 分子/分母：17/20" in c for c in contents)

    rows = sent_rows(conn)
    assert len(rows) == 7 and not any(r[1] for r in rows) and all(r[3] == [] for r in rows)
    channels_of = {r[0]: set(r[2]) for r in rows}
    assert channels_of["sex_ratio_significantly_high|sex_ratio_at_birth|310112101|quarter|2026-01-01"] == {
        "email:区卫生局", "email:区人口计生委", "webhook:区卫生局", "webhook:区人口计生委"}


def test_suppressed_within_the_interval_and_sent_again_after(conn, channels):
    collected = collect.collect_alerts(conn, RUN_ID, QUALITY, DOCS, today=TODAY)
    kw = {"smtp": channels["smtp"], "webhook_urls": channels["webhook_urls"]}
    first = deliver.deliver(conn, collected, now=T0, **kw)
    emails, posts = len(channels["sink"].messages), len(channels["robot"].posts)
    assert first["sent"] == 7 and emails == first["emails"] == 12 and posts == first["webhooks"] == 11

    again = deliver.deliver(conn, collected, now=T0 + dt.timedelta(hours=2), **kw)
    assert again == {"alerts": 7, "sent": 0, "suppressed": 7, "failed": 0, "undelivered": 0, "emails": 0,
                     "webhooks": 0}
    assert len(channels["sink"].messages) == emails and len(channels["robot"].posts) == posts
    rows = sent_rows(conn)
    assert len(rows) == 14 and [r[1] for r in rows] == [False] * 7 + [True] * 7
    assert all(r[2] == [] for r in rows[7:])

    later = deliver.deliver(conn, collected, now=T0 + dt.timedelta(hours=25), **kw)
    assert later["sent"] == 7 and later["suppressed"] == 0
    assert len(channels["sink"].messages) == 2 * emails and len(channels["robot"].posts) == 2 * posts
    assert len(sent_rows(conn)) == 21  # every decision recorded, nothing updated


def test_a_failing_channel_is_recorded_and_fails_after_trying_all(conn, channels):
    collected = collect.collect_alerts(conn, RUN_ID, None, None, today=TODAY)
    urls = {"区人口计生委": channels["base"] + "/fail", "区卫生局": channels["base"] + "/wsj"}
    with pytest.raises(AlertDeliveryFailed) as failure:
        deliver.deliver(conn, collected, smtp=channels["smtp"], webhook_urls=urls, now=T0)
    assert failure.value.result["failed"] == len(collected) == 5
    assert "HTTP 500" in str(failure.value) and "/fail" not in str(failure.value)
    assert failure.value.result["emails"] == 9  # every email still went out
    rows = sent_rows(conn)
    assert all(r[3] == ["webhook:区人口计生委: HTTP 500 Internal Server Error"] for r in rows)
    assert all("email:区人口计生委" in r[2] for r in rows)
    # delivered on some channel: suppressed next time rather than emailed twice
    assert deliver.deliver(conn, collected, smtp=channels["smtp"], webhook_urls=urls,
                          now=T0 + dt.timedelta(hours=1))["suppressed"] == 5


def test_nothing_configured_keeps_alerts_undelivered_and_they_are_sent_later(conn, channels, monkeypatch, caplog):
    monkeypatch.setattr(notify_channels, "airflow_connection", lambda conn_id: None)
    for name in (config.SMTP_URL_ENV, config.DEFAULT_WEBHOOK_ENV, "FPWH_WEBHOOK_JSW", "FPWH_WEBHOOK_WSJ",
                 "FPWH_WEBHOOK_MZJ"):
        monkeypatch.delenv(name, raising=False)
    collected = collect.collect_alerts(conn, RUN_ID, None, None, today=TODAY)
    with caplog.at_level("WARNING"):
        kept = deliver.deliver(conn, collected, now=T0)  # no channel at all: kept, warned once, not a failure
    assert (kept["undelivered"], kept["sent"], kept["failed"]) == (len(collected), 0, 0) and len(collected) == 5
    warned = [r.getMessage() for r in caplog.records if r.name == "include.notify.deliver"]
    assert len(warned) == 1 and "no channel is configured" in warned[0], warned
    rows = conn.execute("select channels, errors, suppressed from alerts.sent_alerts where sent_at = %s",
                        (T0,)).fetchall()
    assert rows == [([], [deliver.NO_CHANNEL], False)] * 5
    # nothing reached anyone, so nothing is suppressed: the next delivery sends
    result = deliver.deliver(conn, collected, smtp=channels["smtp"], webhook_urls=channels["webhook_urls"],
                            now=T0 + dt.timedelta(minutes=5))
    assert result["sent"] == 5 and result["suppressed"] == 0




