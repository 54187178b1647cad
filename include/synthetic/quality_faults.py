"""Faults in the figures rather than in the files: each file stays valid by the contract, but
what the files say together is wrong in a known place, for the quality marts to find
(marts.quality_outliers, marts.quality_scorecard):

  - an outlier: one town's births of one month delivered four times over (copies with
    certificate numbers of their own);
  - related sources that disagree: a fifth of one town's newborns never enter the police
    register (gaj_hjrk), so its births and registrations disagree by about 20 %;
  - a denominator jump: 15 % of one town's files of women of childbearing age (jsw_ylfn)
    are gone from the newest snapshot.

Three different towns, the ones with the most births, so that each fault is judged (small
counts are not) and no fault hides another. Applied to the world before it is written.
"""

from __future__ import annotations

import numpy as np

from include.synthetic.dates import day_no
from include.synthetic.world import NEWBORN, NONE, World, subset

OUTLIER_COPIES = 3
UNREGISTERED_SHARE = 0.2
FILES_DROPPED_SHARE = 0.15
COPY_LETTER = "Q"  # certificate numbers lead with their year's letter; Q (2016) is unused here


def inject(w: World, rng: np.random.Generator) -> dict:
    """Inject the three faults; return where (town codes, the month, counts) for the report."""
    births = w.tables["wsj_csyxzm"]
    in_town = (births["day"] >= w.window_start) & (births["town"] >= 0) & (births["town"] < len(w.towns))
    counts = np.bincount(births["town"][in_town], minlength=len(w.towns))
    outlier_town, police_town, files_town = (int(t) for t in np.argsort(-counts, kind="stable")[:3])
    month = w.as_of[len(w.as_of) // 2]
    return {
        "outlier": _outlier(w, outlier_town, month),
        "police_gap": _police_gap(w, rng, police_town),
        "denominator_jump": _files_dropped(w, rng, files_town),
    }


def _outlier(w: World, town: int, month) -> dict:
    b = w.tables["wsj_csyxzm"]
    first, last = day_no(month.replace(day=1)), day_no(month)
    take = np.flatnonzero((b["town"] == town) & (b["day"] >= first) & (b["day"] <= last))
    copies = [subset(b, take) for _ in range(OUTLIER_COPIES)]
    serial = 100_000_000
    for copy in copies:
        copy["cert"] = np.array([f"{COPY_LETTER}{serial + i:09d}" for i in range(len(take))], dtype=object)
        serial += len(take)
    grown = {k: np.concatenate([b[k], *(c[k] for c in copies)]) for k in b}
    w.tables["wsj_csyxzm"] = subset(grown, np.argsort(grown["day"], kind="stable"))  # events by day
    return {"town": w.towns[town].code, "month": f"{month:%Y-%m}", "births": len(take),
            "births_added": len(take) * OUTLIER_COPIES}


def _police_gap(w: World, rng: np.random.Generator, town: int) -> dict:
    p = w.p
    newborns = np.flatnonzero((p["kind"] == NEWBORN) & (p["town"] == town) & (p["born"] >= w.window_start))
    gone = rng.choice(newborns, round(len(newborns) * UNREGISTERED_SHARE), replace=False)
    p["hj_in"][gone] = w.sim_end + 100_000  # never registered within the files' dates
    return {"town": w.towns[town].code, "newborns": len(newborns), "never_registered": len(gone)}


def _files_dropped(w: World, rng: np.random.Generator, town: int) -> dict:
    t = w.tables["jsw_ylfn"]
    newest, before = day_no(w.as_of[-1]), day_no(w.as_of[-2])
    held = np.flatnonzero((w.p["town"][t["person"]] == town) & (t["filed"] <= newest)
                          & ((t["removed"] == NONE) | (t["removed"] > newest)))
    gone = rng.choice(held, round(len(held) * FILES_DROPPED_SHARE), replace=False)
    t["removed"][gone] = before + 1  # in every snapshot but the newest
    return {"town": w.towns[town].code, "source": "jsw_ylfn", "as_of": f"{w.as_of[-1]}",
            "files": len(held), "dropped": len(gone)}
