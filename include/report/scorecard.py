"""The town scorecard (考核): every unit against the plan's targets in one period, as a table
model the site renders. Pure: published rows in, cells with a status (the colouring rule) out.

The counts per town follow marts.town_scorecard: an indicator with a target assessed for the
town in the period is met or missed (target_met). The sex ratio is coloured by the mart's
judgement of its Wilson interval (indicator_values.sex_ratio_status): significantly high is
missed; "high, not significant" is shown apart, as the alerts say it; "too few births to tell"
(an interval wider than the standard, 40 points: a town's month rests on a few dozen births)
is grey, whatever side of 107 the value lies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# status -> (Chinese label, English, CSS class)
STATUSES = {
    "met": ("达标", "met", "met"),
    "missed": ("未达标", "missed", "missed"),
    "not_significant": ("高于目标, 不显著", "above target, not significant", "near"),
    "too_few": ("出生数太少，无法判断", "too few births to tell", "toofew"),
    "monitored": ("监测 (无目标)", "monitored, no target", "monitored"),
    "no_value": ("无数据", "no value", "empty"),
}
# marts.indicator_values.sex_ratio_status -> the cell's status
SEX_RATIO_STATUS = {
    "significantly high": "missed",
    "high, not significant": "not_significant",
    "too few births to tell": "too_few",
    "normal": "met",
}


def cell_status(row: Mapping | None) -> str:
    """The colouring rule of a scorecard cell: the sex ratio by the mart's status, the other
    indicators by whether their target was met."""
    if row is None:
        return "no_value"
    if row["target_met"] is None:
        return "monitored"
    judged = row.get("sex_ratio_status")
    if judged is not None:
        return SEX_RATIO_STATUS.get(judged, "met" if row["target_met"] else "missed")
    if row["target_met"]:
        return "met"
    if row.get("is_significantly_high") is False:  # a publication from before sex_ratio_status
        return "not_significant"
    return "missed"


@dataclass(frozen=True)
class Cell:
    indicator_code: str
    org_code: str
    status: str
    value: float | None = None
    numerator: int | None = None
    denominator: int | None = None
    is_partial: bool = False
    period_label: str | None = None
    target_met: bool | None = None  # what the town's count of targets met follows (marts.town_scorecard)

    @property
    def css(self) -> str:
        return STATUSES[self.status][2]

    @property
    def label(self) -> str:
        return STATUSES[self.status][0]


@dataclass(frozen=True)
class Row:
    org_code: str
    org_name: str
    org_level: str
    cells: tuple[Cell, ...]

    @property
    def met(self) -> int:
        return sum(c.target_met is True for c in self.cells)

    @property
    def assessed(self) -> int:
        return sum(c.target_met is not None for c in self.cells)


@dataclass(frozen=True)
class Table:
    period_type: str
    period_label: str
    columns: tuple[Mapping, ...]  # catalog rows of the indicators with a target
    rows: tuple[Row, ...]

    @property
    def is_partial(self) -> bool:
        return any(c.is_partial for r in self.rows for c in r.cells)


def table(values: Iterable[Mapping], catalog: Iterable[Mapping], orgs: Iterable[Mapping],
          period_type: str) -> Table | None:
    """The scorecard of the newest period of `period_type` that any targeted indicator has: the
    district first, then each town; a column per indicator with a target published for that
    period type."""
    targeted = [c for c in catalog if c["target_value"] is not None]
    codes = {c["indicator_code"] for c in targeted}
    own = [v for v in values if v["period_type"] == period_type and v["indicator_code"] in codes]
    if not own:
        return None
    start, label = max((v["period_start"], v["period_label"]) for v in own)
    present = {v["indicator_code"] for v in own}
    columns = tuple(c for c in targeted if c["indicator_code"] in present)
    found = {(v["indicator_code"], v["org_code"]): v for v in own if v["period_start"] == start}
    rows = []
    for org in orgs:
        cells = []
        for column in columns:
            v = found.get((column["indicator_code"], org["org_code"]))
            if v is None:
                cells.append(Cell(column["indicator_code"], org["org_code"], "no_value", period_label=label))
                continue
            cells.append(Cell(column["indicator_code"], org["org_code"], cell_status(v), v["value"],
                              v["numerator"], v["denominator"], bool(v["is_partial"]), v["period_label"],
                              v["target_met"]))
        rows.append(Row(org["org_code"], org["org_name"], org["org_level"], tuple(cells)))
    return Table(period_type, label, columns, tuple(rows))
