"""The simulated district's shape: the preset it is sized by, its towns, and the World that
holds its people and every event as columns of numpy arrays (people.py and services.py fill it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np


@dataclass(frozen=True)
class Preset:
    registered: int  # registered residents (户籍) on the first as-of date
    floating: int  # floating residents (流动) with an active registration then
    births_per_year: int
    marriages_per_year: int
    hotels: int
    points: int  # free contraceptive distribution points
    villages: tuple[int, int]  # village/neighbourhood committees per town, min and max


@dataclass
class Town:
    code: str
    name: str
    weight: float  # share of the district's people
    floating_share: float
    villages: int
    srb: float  # sex ratio at birth (males per 100 females)
    diligence: float  # how thoroughly the town's staff collect, check and file (0..1)

    @property
    def short(self) -> str:
        return self.name.removesuffix("街道").removesuffix("工业区").removesuffix("镇")


# Person kinds.
REGISTERED, FLOATING, EXTERNAL, NEWBORN = 0, 1, 2, 3
NONE = -1  # "no date" / "no person" in the int arrays


@dataclass
class World:
    """The simulated district: people and every event, as columns of numpy arrays."""

    preset: Preset
    seed: int
    as_of: list[date]  # monthly as-of dates (month ends)
    quarter_as_of: list[date]
    sim_start: int  # first day of the simulated history (the first files' backlog)
    window_start: int  # first day of the first delivered month
    last_as_of: int
    sim_end: int  # beyond the last file: pregnancies whose registrations are delivered
    towns: list[Town] = field(default_factory=list)
    p: dict[str, np.ndarray] = field(default_factory=dict)  # people
    ids: np.ndarray | None = None  # S18 ID number per person
    flo: dict[str, np.ndarray] = field(default_factory=dict)  # floating registrations
    tables: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # per source
    points: dict[str, np.ndarray] = field(default_factory=dict)  # contraceptive distribution points
    sites: dict[str, np.ndarray] = field(default_factory=dict)  # service sites
    names: np.ndarray | None = None

    @property
    def town_codes(self) -> np.ndarray:
        return np.array([int(t.code) for t in self.towns], dtype=np.int64)

    @property
    def village_counts(self) -> np.ndarray:
        return np.array([t.villages for t in self.towns])

    def random_area(self, rng, towns: np.ndarray, office_share: float = 0.0) -> np.ndarray:
        """12-digit area codes in the given towns: a village committee, or the town (000)."""
        village = 1 + (rng.random(len(towns)) * self.village_counts[towns]).astype(np.int64)
        village[rng.random(len(towns)) < office_share] = 0
        return self.town_codes[towns] * 1000 + village

    def id_text(self, persons: np.ndarray, source: str) -> np.ndarray:
        """ID numbers as a source writes them: police files keep a few old 15-digit
        numbers, hand-typed commission files a few lower-case x."""
        text = self.ids[persons].astype("U18")
        if source == "gaj_hjrk":
            old = np.flatnonzero(self.p["old15"][persons])
            text[old] = [t[:6] + t[8:17] for t in text[old].tolist()]
        elif source in ("rkb_ldrk", "jsw_ylfn", "jsw_hyzm", "jyj_zjpx"):
            lower = np.flatnonzero((persons % 5 == 0) & np.strings.endswith(text, "X"))
            text[lower] = np.strings.lower(text[lower])
        return text

    def name_text(self, persons: np.ndarray) -> np.ndarray:
        return self.names[self.p["name"][persons]]

    def marital_at(self, persons: np.ndarray, day: int | np.ndarray) -> np.ndarray:
        p = self.p
        changed = (p["mar_day"][persons] >= 0) & (p["mar_day"][persons] <= day)
        return np.where(changed, p["marital1"][persons], p["marital0"][persons])


# Tables are dicts of equally long columns.


def concat(groups: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([g[k] for g in groups]) for k in groups[0]}


def compact(t: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """64-bit integer columns as 32-bit where they fit: the district's tables are big."""
    small = lambda v: v.dtype == np.int64 and (len(v) == 0 or (v.min() >= -2**31 and v.max() < 2**31))  # noqa: E731
    return {k: v.astype(np.int32) if small(v) else v for k, v in t.items()}


def subset(t: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[idx] for k, v in t.items()}
