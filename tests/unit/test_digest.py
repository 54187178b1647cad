"""The digest of a recipient's items (include/notify/digest.py), on hand-made items."""

from __future__ import annotations

import datetime as dt
import re

from include import config
from include.notify import digest, templates
from include.notify.collect import Alert, AlertKind

SINCE = dt.datetime(2026, 3, 1, 0, 30, tzinfo=dt.UTC)  # 08:30 in Beijing
LINKS = digest.Links(report="https://fpwh.example.gov.cn/report/index.html", run_id="r1")


def entry(kind: AlertKind, n: int, status: str = digest.NEW, group: str = "") -> digest.Entry:
    item = templates.Item(title=f"{kind} 第 {n} 项", details=(f"详情 {n}",), group=group, line=f"第 {n} 项",
                          facts=str(n), anchor="quality")
    return digest.Entry(Alert(f"{kind}|{n}", kind, kind.severity, ("区人口计生委",), item, "r1"), status,
                        SINCE if status != digest.NEW else None)


def test_sections_follow_what_needs_action_first_whatever_the_order_given():
    entries = [entry(AlertKind.EXTRACT_MISSING, 1, group="婚姻登记"), entry(AlertKind.TARGET_MISSED, 2, group="指标"),
               entry(AlertKind.QUALITY_WARN, 3), entry(AlertKind.BUILD_FAILED, 4),
               entry(AlertKind.SEX_RATIO_SIGNIFICANTLY_HIGH, 5, group="性别比")]
    d = digest.compose("区人口计生委", entries, LINKS)
    headings = re.findall(r"^[一二三四五]、(\S+)（", d.text, flags=re.M)
    assert headings == ["已阻止发布", "数据质量警告", "未达标指标", "出生人口性别比显著偏高", "数据报送逾期或未报送"]
    assert d.subject.startswith("【人口计生数据·区人口计生委】新增 5 项需处理：已阻止发布 1，")
    assert d.fresh == 5 and len(d.keys) == 5


def test_unchanged_items_are_listed_as_still_open_since_they_were_first_told():
    entries = [entry(AlertKind.TARGET_MISSED, 1, digest.CHANGED, group="指标"),
               entry(AlertKind.TARGET_MISSED, 2, digest.STILL_OPEN, group="指标"),
               entry(AlertKind.EXTRACT_LATE, 3, digest.REMINDER, group="出生医学证明")]
    d = digest.compose("区卫生局", entries, LINKS)
    fresh, still = d.text.split("此前已通知、仍未解决（2 项）")
    assert "【有变化】第 1 项" in fresh and "第 2 项" not in fresh and "第 3 项" not in fresh
    assert "target_missed 第 2 项（自 2026-03-01 08:30 起未解决）" in still
    assert "extract_late 第 3 项（自 2026-03-01 08:30 起未解决）" in still
    assert d.fresh == 1 and "另有 2 项仍未解决" in d.subject
    only_old = digest.compose("区卫生局", entries[1:], LINKS)
    assert only_old.subject == "【人口计生数据·区卫生局】2 项此前已通知，仍未解决"
    assert "【新】" not in only_old.text and "【有变化】" not in only_old.text


def test_the_robot_message_stays_within_its_limit_and_counts_what_it_left_out():
    entries = [entry(AlertKind.TARGET_MISSED, n, group=f"指标 {n // 40}") for n in range(400)]
    d = digest.compose("区人口计生委", entries, LINKS)
    assert len(d.markdown.encode("utf-8")) <= config.WEBHOOK_MAX_BYTES
    shown = len(re.findall(r"^> 【新】第 \d+ 项$", d.markdown, flags=re.M))
    left = int(re.search(r"另有 (\d+) 项，详见邮件", d.markdown)[1])
    assert 0 < shown < 400 and shown + left == 400
    assert d.markdown.rstrip().endswith("运行编号：r1") and f"[查看报告]({LINKS.report})" in d.markdown
    assert all(f"第 {n} 项" in d.text for n in range(400)), "the email lists every item"


def test_html_escapes_what_the_items_say():
    hostile = templates.Item(title='<script>alert("x")</script>', details=("a & b",), anchor='"><img>')
    e = digest.Entry(Alert("k", AlertKind.QUALITY_WARN, AlertKind.QUALITY_WARN.severity, ("区人口计生委",), hostile),
                     digest.NEW)
    markup = digest.compose("区人口计生委", [e], LINKS).html
    assert "<script>" not in markup and "&lt;script&gt;" in markup and "a &amp; b" in markup
    assert '"><img>' not in markup
