"""An attacker of the disclosure-safe indicator values (marts.indicator_values_disclosure_safe),
written from the spec (../shared/spec/indicators.md: the district counts every unit of its
towns; event counts add up over sub-periods; a stock is the state on R) and not from the
model's SQL, so that it checks the model rather than repeats it.

It tries to recover the hidden counts from what is shown. To be stronger than any reader,
it is given the exact counts of the shown cells (the view shows them rounded), and it knows
that a missing row means a zero denominator: for a rate the numerator is then 0 as well;
for the sex ratio (numerator: male births, denominator: female births) the male births of a
missing row are unknown, and it tries to recover those too.

Two attacks, on each count (numerator, denominator) of each indicator:

- `subtraction`: one group at a time (a total and its parts): when exactly one of its cells
  is unknown, that cell is the total minus the known parts (or their sum, for a hidden total).
- `linear`: every group's equation at once; a cell is determined when the system pins it
  (its unit vector lies in the row space of the equations), whatever the other unknowns are.

A recovered cell is a leak when it is a suppressed row of the view (whatever its value), or
a missing row whose recovered count is in the suppressed range.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

COUNTS = ("numerator", "denominator")
SEX_RATIO = "sex_ratio_at_birth"
CHILD = {"quarter": "month", "year": "quarter"}


@dataclass(frozen=True)
class Leak:
    attack: str
    indicator_code: str
    count: str
    org_code: str
    period_type: str
    period_start: object
    value: int
    suppressed_row: bool  # a hidden row of the view (else a missing row)


@dataclass(frozen=True)
class Group:
    indicator_code: str
    total: tuple  # (org_code, period_type, period_start)
    parts: tuple


def groups(rows: list[dict], kinds: dict[str, str], district: str) -> list[Group]:
    """Every total-and-parts equation of the spec over the full grid of org units x periods of
    each indicator (cells without a row included)."""
    towns = sorted({r["org_code"] for r in rows if r["org_level"] == "town"})
    by_indicator = defaultdict(list)
    for r in rows:
        by_indicator[r["indicator_code"]].append(r)
    out = []
    for code, these in by_indicator.items():
        periods = {(r["period_type"], r["period_start"]): (r["period_end"], r["reference_date"]) for r in these}
        has_towns = any(r["org_level"] == "town" for r in these)
        orgs = [district, *towns] if has_towns else [district]
        if has_towns:
            for ptype, pstart in periods:
                out.append(Group(code, (district, ptype, pstart), tuple((t, ptype, pstart) for t in towns)))
        for (ptype, pstart), (pend, ref) in periods.items():
            if ptype not in CHILD:
                continue
            children = [(ctype, cstart) for (ctype, cstart), (_e, cref) in periods.items()
                        if ctype == CHILD[ptype] and pstart <= cstart <= pend
                        and (kinds[code] == "event" or cref == ref)]
            if children:
                for org in orgs:
                    out.append(Group(code, (org, ptype, pstart), tuple((org, *c) for c in children)))
    return out


def _cells(rows: list[dict]) -> dict:
    return {(r["indicator_code"], r["org_code"], r["period_type"], r["period_start"]): r for r in rows}


def _unknown(cells: dict, code: str, cell: tuple, count: str) -> bool:
    row = cells.get((code, *cell))
    if row is None:  # no row: the denominator is 0; a rate's numerator too, the male births are unknown
        return code == SEX_RATIO and count == "numerator"
    return bool(row["is_suppressed"])


def _known_value(cells: dict, code: str, cell: tuple, count: str) -> int:
    row = cells.get((code, *cell))
    return 0 if row is None else int(row[count])


def _leak(attack, cells, code, cell, count, value, limits) -> Leak | None:
    row = cells.get((code, *cell))
    low, high = limits
    if row is None and not low <= value <= high:
        return None  # a missing row recovered as 0 (or as a count above the range): no small count
    return Leak(attack, code, count, *cell, value=value, suppressed_row=row is not None)


def subtraction(rows: list[dict], kinds: dict[str, str], district: str, limits: tuple[int, int]) -> list[Leak]:
    """Groups with exactly one unknown cell give it back."""
    cells = _cells(rows)
    leaks = []
    for group in groups(rows, kinds, district):
        members = [(group.total, 1), *((p, -1) for p in group.parts)]
        for count in COUNTS:
            unknown = [(c, sign) for c, sign in members if _unknown(cells, group.indicator_code, c, count)]
            if len(unknown) != 1:
                continue
            cell, sign = unknown[0]
            known = sum(sign_ * _known_value(cells, group.indicator_code, c, count)
                        for c, sign_ in members if (c, sign_) != (cell, sign))
            value = -known * sign
            if leak := _leak("subtraction", cells, group.indicator_code, cell, count, value, limits):
                leaks.append(leak)
    return sorted(set(leaks), key=repr)


def linear(rows: list[dict], kinds: dict[str, str], district: str, limits: tuple[int, int]) -> list[Leak]:
    """All the equations of an indicator's count at once: the cells they determine."""
    cells = _cells(rows)
    by_indicator = defaultdict(list)
    for group in groups(rows, kinds, district):
        by_indicator[group.indicator_code].append(group)
    leaks = []
    for code, these in by_indicator.items():
        for count in COUNTS:
            index: dict[tuple, int] = {}
            equations, rhs = [], []
            for group in these:
                coefficients, constant = defaultdict(float), 0.0
                for cell, sign in [(group.total, 1), *((p, -1) for p in group.parts)]:
                    if _unknown(cells, code, cell, count):
                        coefficients[index.setdefault(cell, len(index))] += sign
                    else:
                        constant += sign * _known_value(cells, code, cell, count)
                if coefficients:
                    equations.append(coefficients)
                    rhs.append(-constant)
            if not equations:
                continue
            a = np.zeros((len(equations), len(index)))
            for i, coefficients in enumerate(equations):
                for j, c in coefficients.items():
                    a[i, j] = c
            for j, value in determined(a, np.array(rhs)).items():
                cell = next(c for c, k in index.items() if k == j)
                if leak := _leak("linear", cells, code, cell, count, value, limits):
                    leaks.append(leak)
    return sorted(leaks, key=repr)


def determined(a: np.ndarray, b: np.ndarray) -> dict[int, int]:
    """The unknowns that a x = b pins down, with their values: those whose component is zero
    in every vector of the null space of a."""
    _u, s, vt = np.linalg.svd(a, full_matrices=True)
    rank = int((s > 1e-9 * max(1.0, s.max(initial=0.0))).sum())
    null = vt[rank:]
    x = np.linalg.lstsq(a, b, rcond=None)[0]
    return {j: round(float(x[j])) for j in range(a.shape[1]) if np.all(np.abs(null[:, j]) < 1e-9)}
