"""The gate's levels: what a failed check does, and how the seed ref_quality_thresholds sets it.

Every expectation has a level: its GX severity `critical` is *block* (the marts are not
published; alert) and `warning` is *warn* (they are published; alert). Checks on a measure
(shares of quarantined rows and of ID-number warnings, volume change, days late, missing
periods) come in a block and a warn expectation, each selecting what is at its level under
the seed. Checks counted in failing rows name their seed row in `meta.threshold`; when the
warehouse has the seed (reference.ref_quality_thresholds, unit `rows`), the level of a
failed check is taken from it by its failing rows: block from block_level rows, else warn
from warn_level rows, else tolerated (recorded, not alerted). A row of the check's source
(`meta.scope`), or of the indicator of failing rows of indicator_values, wins over the `*`
row. Without the seed the expectation's own level holds.
"""

from __future__ import annotations

import enum
import logging
from collections import Counter

from include.warehouse import connection

log = logging.getLogger(__name__)

THRESHOLDS_TABLE = "reference.ref_quality_thresholds"

# (check_name, scope) -> (warn_level, block_level), the seed's rows counted in failing rows
Thresholds = dict[tuple[str, str], tuple[float | None, float | None]]


class Level(enum.StrEnum):
    """What a failed check does to the publication."""

    BLOCK = "block"  # the marts are not published; alert
    WARN = "warn"  # the marts are published; alert

    @classmethod
    def of_severity(cls, severity) -> Level:
        """The level of a GX severity (an enum or its value); GX's default, and anything
        unknown, blocks."""
        value = getattr(severity, "value", severity) or "critical"
        return cls.WARN if str(value) == "warning" else cls.BLOCK

    @property
    def severity(self) -> str:
        """The GX severity an expectation at this level carries."""
        return "critical" if self is Level.BLOCK else "warning"


class Outcome(enum.StrEnum):
    """What the gate made of one expectation's result."""

    PASSED = "passed"
    BLOCKED = "blocked"
    WARNED = "warned"
    TOLERATED = "tolerated"  # failed, but below every level of its seed row: recorded, not alerted

    @classmethod
    def of_level(cls, level: Level | None) -> Outcome:
        """The outcome of a failed check at `level` (None: tolerated)."""
        return {Level.BLOCK: cls.BLOCKED, Level.WARN: cls.WARNED, None: cls.TOLERATED}[level]


def load_thresholds(url: str) -> Thresholds | None:
    """(check_name, scope) -> (warn_level, block_level) of the seed's rows counted in
    failing rows; None when the warehouse has no seed (then the suites' levels hold)."""
    with connection.connect(url) as conn:
        if not connection.relation_exists(conn, THRESHOLDS_TABLE):
            log.warning("%s not found: the suites' own levels apply", THRESHOLDS_TABLE)
            return None
        rows = conn.execute(
            f"select check_name, scope, warn_level, block_level from {THRESHOLDS_TABLE} where unit = 'rows'"
        ).fetchall()
    return {(c, s): (None if w is None else float(w), None if b is None else float(b)) for c, s, w, b in rows}


def resolve_level(configured: Level | str, threshold: str | None, scope: str | None, count: int,
                  rows: list[dict], thresholds: Thresholds | None) -> Level | None:
    """The level a failed check takes: BLOCK, WARN, or None (tolerated).

    `count` failing rows (of which `rows` are known) are held against the seed row of
    `threshold` for `scope` (a source), else for the failing rows' indicator_code where
    the seed has a row for it, the rest pooled against the `*` row. Without a seed row the
    check keeps its `configured` level.
    """
    configured = Level(configured)
    if not threshold or not thresholds or not any(check == threshold for check, _ in thresholds):
        return configured

    def level(limits: tuple | None, n: int) -> Level | None:
        if limits is None:
            return configured
        warn, block = limits
        if block is not None and n >= block:
            return Level.BLOCK
        if warn is not None and n >= warn:
            return Level.WARN
        return None

    default = thresholds.get((threshold, "*"))
    if scope:
        return level(thresholds.get((threshold, scope), default), count)
    scoped = {s for check, s in thresholds if check == threshold and s != "*"}
    per_scope = Counter(r.get("indicator_code") for r in rows if r.get("indicator_code") in scoped)
    levels = [level(thresholds[(threshold, s)], n) for s, n in per_scope.items()]
    pooled = count - sum(per_scope.values())
    if pooled > 0:
        levels.append(level(default, pooled))
    return Level.BLOCK if Level.BLOCK in levels else Level.WARN if Level.WARN in levels else None
