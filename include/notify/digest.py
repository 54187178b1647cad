"""One message per recipient: the run's items grouped by what needs action.

Sections, in this order: what blocked publication (a failed build, blocking checks),
quality warnings, what the quality marts found (outliers, inconsistent sources), missed
targets (by indicator, then district and towns), significantly high sex ratios, sex ratios
above the target but not significantly (a notice), late or missing extracts. New and
changed items are listed in full; items told before and unchanged follow in a last
section, "still open since …", one line each. Items a person marked explained on the
follow-up list (`followups`) are left out while unchanged.

Three renderings of the same digest (`compose`): plain text and HTML for the email (its
two alternative parts), and the chat robot's markdown, cut to the robot's size limit with
a line saying how many items the email holds beyond it. Nothing here reads the warehouse
or sends anything.
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass

from include import config
from include.notify import collect, templates
from include.notify.collect import AlertKind


@dataclass(frozen=True)
class Section:
    name: str
    heading: str
    kinds: tuple[AlertKind, ...]


SECTIONS = (
    Section("blocked", "已阻止发布", (AlertKind.BUILD_FAILED, AlertKind.QUALITY_BLOCK)),
    Section("warned", "数据质量警告", (AlertKind.QUALITY_WARN,)),
    Section("followups", "数据质量问题（异常值、不一致，待跟进）",
            (AlertKind.QUALITY_OUTLIER, AlertKind.QUALITY_INCONSISTENT)),
    Section("targets", "未达标指标", (AlertKind.TARGET_MISSED,)),
    Section("sex_ratio", "出生人口性别比显著偏高", (AlertKind.SEX_RATIO_SIGNIFICANTLY_HIGH,)),
    Section("sex_ratio_notice", "出生人口性别比高于目标但不显著（请关注）", (AlertKind.SEX_RATIO_ABOVE_RANGE,)),
    Section("extracts", "数据报送逾期或未报送", (AlertKind.EXTRACT_LATE, AlertKind.EXTRACT_MISSING)),
)
SECTION_OF = {kind: section for section in SECTIONS for kind in section.kinds}
NUMERALS = "一二三四五六七八九十"

NEW, CHANGED, REMINDER, STILL_OPEN = "new", "changed", "reminder", "still_open"
FRESH = frozenset({NEW, CHANGED})  # told in full; the others are listed as still open
TAGS = {NEW: "【新】", CHANGED: "【有变化】"}


@dataclass(frozen=True)
class Entry:
    """An item as one recipient gets it: new, changed, or still open since `since`."""

    alert: collect.Alert
    status: str  # NEW, CHANGED, REMINDER (still open, told again after the interval) or STILL_OPEN
    since: dt.datetime | None = None  # when it was first told


@dataclass(frozen=True)
class Links:
    """Where a reader looks: the report site's index and the Data Docs (public links or None)."""

    report: str | None = None
    data_docs: str | None = None
    run_id: str | None = None

    def to(self, anchor: str) -> str | None:
        return f"{self.report}#{anchor}" if self.report and anchor else None


@dataclass(frozen=True)
class Digest:
    recipient: str
    subject: str
    text: str
    html: str
    markdown: str
    keys: tuple[str, ...]  # the items it lists
    fresh: int  # how many of them are new or changed


def _sections(entries: list[Entry], fresh: bool) -> list[tuple[Section, list[Entry]]]:
    chosen = [e for e in entries if (e.status in FRESH) == fresh]
    return [(s, [e for e in chosen if SECTION_OF[e.alert.kind] is s]) for s in SECTIONS
            if any(SECTION_OF[e.alert.kind] is s for e in chosen)]


def _groups(entries: list[Entry]) -> list[tuple[str, list[Entry]]]:
    """Entries under their group heading, in first-seen order ("" : standing alone)."""
    groups: dict[str, list[Entry]] = {}
    for e in entries:
        groups.setdefault(e.alert.item.group, []).append(e)
    return list(groups.items())


def _since(e: Entry) -> str:
    return f"自 {templates.beijing_time(e.since)} 起未解决" if e.since else "此前已通知"


def subject(recipient: str, entries: list[Entry]) -> str:
    counts = [f"{s.heading} {len(es)}" for s, es in _sections(entries, True)]
    fresh = sum(e.status in FRESH for e in entries)
    open_ = len(entries) - fresh
    if fresh:
        tail = f"（另有 {open_} 项仍未解决）" if open_ else ""
        return f"【人口计生数据·{recipient}】新增 {fresh} 项需处理：{'，'.join(counts)}{tail}"
    return f"【人口计生数据·{recipient}】{open_} 项此前已通知，仍未解决"


def compose(recipient: str, entries: list[Entry], links: Links) -> Digest:
    """The digest of `entries` for `recipient` (a unit's name) in its three renderings."""
    entries = sorted(entries, key=lambda e: SECTIONS.index(SECTION_OF[e.alert.kind]))
    return Digest(
        recipient=recipient,
        subject=subject(recipient, entries),
        text=render_text(recipient, entries, links),
        html=render_html(recipient, entries, links),
        markdown=render_markdown(recipient, entries, links),
        keys=tuple(e.alert.key for e in entries),
        fresh=sum(e.status in FRESH for e in entries),
    )


def _opening(recipient: str, entries: list[Entry]) -> str:
    fresh = sum(e.status in FRESH for e in entries)
    still = len(entries) - fresh
    told = f"本次运行有 {fresh} 项新增或有变化的事项需要处理" if fresh else "本次没有新增事项"
    told = f"{recipient}：{told}"
    return told + (f"，另有 {still} 项此前已通知、仍未解决。" if still else "。")


def _footer(links: Links) -> list[str]:
    lines = []
    if links.report:
        lines.append(f"报告（图表、考核表、数据质量）：{links.report}")
    if links.data_docs:
        lines.append(f"数据质量报告（Data Docs）：{links.data_docs}")
    lines.append(f"运行编号（run id）：{links.run_id or '（未提供）'}")
    lines.append("此邮件由人口计生数据仓库自动发送；同一事项未变化时不会作为新事项重复发送。")
    return lines


# --------------------------------------------------------------------------- plain text


def render_text(recipient: str, entries: list[Entry], links: Links) -> str:
    out = [_opening(recipient, entries), ""]
    for n, (section, es) in enumerate(_sections(entries, True)):
        out.append(f"{NUMERALS[n]}、{section.heading}（{len(es)} 项）")
        for group, members in _groups(es):
            if group:
                out.append(f"  {group}")
            for e in members:
                item = e.alert.item
                out.append(f"    {TAGS[e.status]}{item.line or item.title}" if group
                           else f"  {TAGS[e.status]}{item.title}")
                if not group:  # standing alone: its details; grouped ones share the table's look
                    out += [f"      {d}" for d in item.details]
            if group and (link := links.to(members[0].alert.item.anchor)):
                out.append(f"    查看：{link}")
        out.append("")
    still = _sections(entries, False)
    if still:
        out.append(f"此前已通知、仍未解决（{sum(len(es) for _, es in still)} 项）")
        for section, es in still:
            out.append(f"  {section.heading}")
            for e in es:
                out.append(f"    - {e.alert.item.title}（{_since(e)}）")
        out.append("")
    return "\n".join(out + _footer(links)) + "\n"


# --------------------------------------------------------------------------- HTML

_STYLE = {
    "body": "font-family:'Noto Sans CJK SC','Microsoft YaHei',sans-serif;font-size:14px;color:#222",
    "h2": "font-size:16px;margin:18px 0 6px;border-bottom:2px solid #b22;padding-bottom:2px",
    "h3": "font-size:14px;margin:10px 0 4px",
    "table": "border-collapse:collapse;margin:4px 0 8px",
    "td": "border:1px solid #ccc;padding:3px 8px;vertical-align:top",
    "tag": "color:#b22;font-weight:bold",
    "muted": "color:#666",
}


def _h(text: str) -> str:
    return html.escape(text, quote=True)


def _link(text: str, href: str | None) -> str:
    return f'<a href="{_h(href)}">{_h(text)}</a>' if href else _h(text)


def render_html(recipient: str, entries: list[Entry], links: Links) -> str:
    s = _STYLE
    out = [f'<html><head><meta charset="utf-8"></head><body style="{s["body"]}">',
           f"<p>{_h(_opening(recipient, entries))}</p>"]
    for n, (section, es) in enumerate(_sections(entries, True)):
        out.append(f'<h2 style="{s["h2"]}">{NUMERALS[n]}、{_h(section.heading)}（{len(es)} 项）</h2>')
        for group, members in _groups(es):
            if group:
                anchor = links.to(members[0].alert.item.anchor)
                out.append(f'<h3 style="{s["h3"]}">{_link(group, anchor)}</h3><table style="{s["table"]}">')
                out += [f'<tr><td style="{s["td"]}"><span style="{s["tag"]}">{_h(TAGS[e.status])}</span>'
                        f'{_h(e.alert.item.line or e.alert.item.title)}</td></tr>' for e in members]
                out.append("</table>")
                continue
            for e in members:
                item = e.alert.item
                out.append(f'<p><span style="{s["tag"]}">{_h(TAGS[e.status])}</span>'
                           f"<b>{_link(item.title, links.to(item.anchor))}</b></p>")
                out.append(f'<table style="{s["table"]}">'
                           + "".join(f'<tr><td style="{s["td"]}">{_h(d)}</td></tr>' for d in item.details)
                           + "</table>")
    still = _sections(entries, False)
    if still:
        out.append(f'<h2 style="{s["h2"]}">此前已通知、仍未解决（{sum(len(es) for _, es in still)} 项）</h2>')
        for section, es in still:
            out.append(f'<h3 style="{s["h3"]}">{_h(section.heading)}</h3><ul>')
            out += [f"<li>{_link(e.alert.item.title, links.to(e.alert.item.anchor))} "
                    f'<span style="{s["muted"]}">（{_h(_since(e))}）</span></li>' for e in es]
            out.append("</ul>")
    out.append(f'<p style="{s["muted"]}">' + "<br>".join(_linkify(line, links) for line in _footer(links)) + "</p>")
    out.append("</body></html>")
    return "\n".join(out)


def _linkify(line: str, links: Links) -> str:
    for url in filter(None, (links.report, links.data_docs)):
        if line.endswith(url):
            return _h(line[: -len(url)]) + _link(url, url)
    return _h(line)


# --------------------------------------------------------------------------- chat robot


def render_markdown(recipient: str, entries: list[Entry], links: Links) -> str:
    """The robot's message: headings, one line per item, links to the report; at most
    config.WEBHOOK_MAX_BYTES, the rest counted on a last line."""
    head = [f"**{subject(recipient, entries)}**"]
    lines: list[tuple[str, bool]] = []  # (line, is an item)
    for section, es in _sections(entries, True):
        lines.append((f"### {section.heading}（{len(es)}）", False))
        for group, members in _groups(es):
            if group:
                anchor = links.to(members[0].alert.item.anchor)
                lines.append((f"**{f'[{group}]({anchor})' if anchor else group}**", False))
            lines += [(f"> {TAGS[e.status]}{e.alert.item.line or e.alert.item.title}", True) for e in members]
    still = [e for e in entries if e.status not in FRESH]
    if still:
        lines.append((f"### 此前已通知、仍未解决（{len(still)}）", False))
        lines += [(f"> {e.alert.item.title}", True) for e in still]
    tail = [f"[查看报告]({links.report})" if links.report else "", f"运行编号：{links.run_id or '（未提供）'}"]
    budget = config.WEBHOOK_MAX_BYTES - _size(head + tail) - 80
    kept, left = [], sum(is_item for _, is_item in lines)
    for line, is_item in lines:
        if _size([*kept, line]) > budget:
            break
        kept.append(line)
        left -= is_item
    if left:
        kept.append(f"> … 另有 {left} 项，详见邮件")
    return "\n".join(head + kept + [t for t in tail if t])


def _size(lines: list[str]) -> int:
    return len("\n".join(lines).encode("utf-8")) + 1
