"""The deliveries: which files land (one per source and as-of date) and how each is laid out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from include.contract import registry as reg
from include.synthetic.randomness import stream
from include.synthetic.world import World

EXTRA = "_extra"  # the layout's key for the unknown extra column
EXTRA_HEADER = "备注"
EXTRA_NOTES = ("", "", "", "", "已核实", "电话回访", "待补录", "信息已更新")


@dataclass
class Delivery:
    code: str
    as_of: date
    since: date | None  # event files: events after this date (the previous file's as-of)
    n: int = 1
    role: str = "regular"  # regular | superseding | truncated | undecodable | missing_header | bad_name
    limit: int | None = None  # bad files need only a few rows

    @property
    def src(self) -> reg.Source:
        return reg.source(self.code)

    @property
    def name(self) -> str:
        stamp = f"{self.as_of.year}0230" if self.role == "bad_name" else f"{self.as_of:%Y%m%d}"
        return f"{self.code}_{stamp}{'' if self.n == 1 else f'_{self.n}'}.{self.src.file_format}"


@dataclass
class Layout:
    columns: list[str]  # warehouse names in file order; EXTRA for the unknown column
    headers: list[str]  # as written


def layout_for(src: reg.Source, variant: str, rng) -> Layout:
    cols = [c.name for c in src.columns]
    if variant == "shuffled":
        cols = [cols[i] for i in rng.permutation(len(cols))]
    if variant == "extra_column":
        cols.insert(int(rng.integers(1, len(cols))), EXTRA)
    if variant == "missing_header":  # a bad file: the first required date column is left out
        cols.remove(next(c.name for c in src.columns if c.required and c.kind == reg.DATE))
    headers = [EXTRA_HEADER if c == EXTRA else src.column(c).header for c in cols]
    if variant == "padded_headers":  # white space around headers is trimmed, not reported
        headers = [f" {h}  " if i % 2 else h for i, h in enumerate(headers)]
    return Layout(cols, headers)


def delivery_plan(w: World) -> list[Delivery]:
    plan = []
    for src in reg.SOURCES:
        since = None
        for as_of in w.quarter_as_of if src.cadence == "quarterly" else w.as_of:
            plan.append(Delivery(src.code, as_of, since))
            since = as_of
    return plan


def layout_variants(plan: list[Delivery], seed: int) -> dict[str, str]:
    """Contract-conformant variations: a few files with shuffled columns, one with an
    unknown extra column, one with white space around its headers."""
    rng = stream(seed, "layouts")
    # The extra column goes to a big snapshot file, where it meets every kind of defect.
    big = [d.name for d in plan if d.src.kind == "snapshot" and d.src.cadence == "monthly"]
    layouts = {str(rng.choice(big)): "extra_column"}
    others = [d.name for d in plan if d.name not in layouts]
    for name, variant in zip(rng.choice(others, size=min(4, len(others)), replace=False).tolist(),
                             ["padded_headers", "shuffled", "shuffled", "shuffled"]):
        layouts[name] = variant
    return layouts
