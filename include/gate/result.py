"""What a run of the quality gate found, and how it reads in words.

`GateResult.to_dict()` is the plain dict the tasks pass on (an Airflow XCom) and
publication stores as JSON (audit.publications.quality); `from_dict` reads it back. The
entries of `failed`, `warned` and `tolerated` are plain dicts too: check, expectation,
description, table, suite, level, observed, unexpected_count and samples (failing rows by
their key columns, never personal data).

Failure messages name the check, the table and what was observed, with at most a few
sample rows given by their key columns (indicator, org unit, period; source and file).
The checks select no personal data; any 15- or 18-digit number that still reached a
message is masked.
"""

from __future__ import annotations

import copy
import datetime as dt
import decimal
import enum
from dataclasses import dataclass, fields

from include.contract import idnumber
from include.transform import marts_contract


@dataclass
class GateResult:
    success: bool  # no check blocked
    checkpoint: str
    evaluated: int  # expectations
    failed: list[dict]  # the checks that blocked
    warned: list[dict]
    tolerated: list[dict]  # failed below every level of their seed row
    suites: dict[str, dict]  # suite -> evaluated, blocked, warned, tolerated, data_docs (its page)
    thresholds: str | None  # the seed table the levels came from; None: the suites' own levels
    results_table: str  # where every expectation's result is recorded
    data_docs: str | None  # the site's index page: every suite's validation
    run_id: str | None
    checkpoint_seconds: float
    seconds: float

    def to_dict(self) -> dict:
        """The result as a JSON-ready dict, its keys in the order above."""
        return {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict) -> GateResult:
        return cls(**{f.name: copy.deepcopy(data[f.name]) for f in fields(cls)})

    def message(self) -> str:
        """The failure in plain words: what blocked, what only warned, where to read more."""
        failed, warned = self.failed, self.warned or []
        lines = [
            f"Quality gate failed: {len(failed)} of {self.evaluated} checks failed at the block level "
            f"(checkpoint {self.checkpoint}, run {self.run_id}); the marts are not published."
        ]
        lines += entry_lines(failed)
        if warned:
            lines.append(f"Also {len(warned)} warning{'' if len(warned) == 1 else 's'} (would not block):")
            lines += entry_lines(warned)
        lines.append(f"Every result: {self.results_table} where run_id = '{self.run_id}'.")
        if self.data_docs:
            lines.append(f"Data Docs: {self.data_docs}")
        return idnumber.mask("\n".join(lines))


def jsonable(value):
    """`value` with dates as ISO text, decimals as floats, enums as their values and any ID
    number in a text masked."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, str):
        return idnumber.mask(value)
    return value


def sample_text(row: dict) -> str:
    """A failing row by its key columns (those of indicator_values), the rest after them."""
    key = marts_contract.key_columns()
    keys = [f"{k}={row[k]}" for k in key if k in row]
    other = [f"{k}={v}" for k, v in row.items() if k not in key]
    if not keys:  # rows about deliveries, sources or columns: their own columns
        return ", ".join(other)
    return " ".join(keys) + (f" ({', '.join(other)})" if other else "")


def entry_lines(entries: list[dict]) -> list[str]:
    lines = []
    errors: dict[str, list[str]] = {}  # checks that could not run, by error (often all for one cause)
    for f in entries:
        if not f["samples"] and f["observed"].startswith("could not be evaluated"):
            errors.setdefault(f"{f['table']}: {f['observed']}", []).append(f["check"])
            continue
        lines.append(f"- [{f['check']}] {f['description']} ({f['expectation']} on {f['table']}): {f['observed']}")
        for row in f["samples"]:
            lines.append(f"    e.g. {sample_text(row)}")
        shown, total = len(f["samples"]), f.get("unexpected_count")
        if isinstance(total, int) and total > shown > 0:
            lines.append(f"    ... and {total - shown} more")
    for error, checks in errors.items():
        lines.append(f"- [{', '.join(checks)}] on {error}")
    return lines
