"""Days as numbers and dates as cells.

The simulation counts days from EPOCH in int arrays (vectorised date arithmetic); the
rows hand those day numbers to format_dates, which writes them in a source's date format.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import cache

import numpy as np

from include.contract import registry as reg

EPOCH = date(1900, 1, 1)
EPOCH64 = np.datetime64("1900-01-01", "D")
_LAST_DAY = (date(2100, 12, 31) - EPOCH).days


def day_no(d: date) -> int:
    return (d - EPOCH).days


def from_day(n: int) -> date:
    return EPOCH + timedelta(days=int(n))


def month_end(d: date) -> date:
    nxt = date(d.year + d.month // 12, d.month % 12 + 1, 1)
    return nxt - timedelta(days=1)


def add_months(d: date, n: int) -> date:
    m = d.month - 1 + n
    return date(d.year + m // 12, m % 12 + 1, 1)


def years_of(days: np.ndarray) -> np.ndarray:
    return (EPOCH64 + days.astype("timedelta64[D]")).astype("M8[Y]").astype(np.int64) + 1970


def anniversary(days: np.ndarray, years: int) -> np.ndarray:
    """The day a person born on `days` turns `years` (29 February falls on 1 March)."""
    born = EPOCH64 + days.astype("timedelta64[D]")
    month = born.astype("M8[M]")
    offset = born - month.astype("M8[D]")
    return ((month + 12 * years).astype("M8[D]") + offset - EPOCH64).astype(np.int64)


@cache
def _date_text(fmt: str) -> np.ndarray:
    """Day number -> cell value in a registry date format; the last entry is the empty cell."""
    days = EPOCH64 + np.arange(_LAST_DAY + 1).astype("timedelta64[D]")
    if fmt == reg.EXCEL:
        values = days.astype(object).tolist() + [None]
    else:
        iso = days.astype("U10")
        values = (iso if fmt == reg.ISO else np.strings.replace(iso, "-", "")).tolist() + [""]
    return np.array(values, dtype=object)


def format_dates(days: np.ndarray, fmt: str) -> list:
    return _date_text(fmt)[np.where(days < 0, -1, days)].tolist()


def format_date(d: date, fmt: str):
    return d if fmt == reg.EXCEL else d.strftime(fmt)


def parse_date_cell(value) -> date:
    """A valid date cell back as a date: an Excel date, YYYY-MM-DD or YYYYMMDD."""
    if isinstance(value, date):
        return value
    return datetime.strptime(value, reg.ISO if "-" in value else reg.YMD).date()
