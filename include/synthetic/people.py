"""The district's people and what happens to them: towns, registered and floating
residents, women who give birth here while living elsewhere, marriages, births, the
newborns who join the register, and a valid, distinct ID number for everyone."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date

import numpy as np

from include.contract import registry as reg
from include.synthetic.dates import add_months, day_no, from_day, month_end, years_of
from include.synthetic.identifiers import id_numbers
from include.synthetic.randomness import pick, stream
from include.synthetic.vocabulary import (
    FLOATING_AGES,
    GIVEN_FEMALE,
    GIVEN_MALE,
    HOME_COUNTIES,
    HOME_WEIGHTS,
    HOSPITAL_WEIGHTS,
    HOSPITALS,
    NAMES_PER_SEX,
    REGISTERED_AGES,
    SHANGHAI_COUNTIES,
    SURNAMES,
)
from include.synthetic.world import (
    EXTERNAL,
    FLOATING,
    NEWBORN,
    NONE,
    REGISTERED,
    Preset,
    Town,
    World,
    compact,
    concat,
)


def _name_table(rng: np.random.Generator) -> np.ndarray:
    zipf = 1 / np.arange(1, len(SURNAMES) + 1) ** 0.9
    names = []
    for given in (GIVEN_MALE, GIVEN_FEMALE):
        surname = pick(rng, list(SURNAMES), zipf, NAMES_PER_SEX)
        first = pick(rng, list(given), np.ones(len(given)), NAMES_PER_SEX)
        second = pick(rng, list(given), np.ones(len(given)), NAMES_PER_SEX)
        two = rng.random(NAMES_PER_SEX) < 0.7
        names += [s + f + (t if k else "") for s, f, t, k in zip(surname, first, second, two, strict=True)]
    return np.array(names, dtype=object)


def _towns(rng: np.random.Generator, preset: Preset) -> list[Town]:
    """Town parameters: the 7th digit of a town-level code says street (0), town (1) or
    zone (5); streets are urban with fewer floating residents, the industrial zone has most."""
    towns = []
    units = reg.town_units()
    high_srb = set(rng.choice(sorted(units), size=3, replace=False).tolist())
    for code, name in units.items():
        kind = code[6]
        weight = float(rng.lognormal(0, 0.4)) * (0.35 if kind == "5" else 1.0)
        lo, hi = {"0": (0.28, 0.45), "1": (0.45, 0.65)}.get(kind, (0.70, 0.82))
        towns.append(Town(
            code, name, weight, float(rng.uniform(lo, hi)),
            int(rng.integers(preset.villages[0], preset.villages[1] + 1)),
            110.0 if code in high_srb else 105.0, float(rng.uniform(0.88, 0.995)),
        ))
    return towns


def _people(rng, w: World, n: int, kind: int, ages, male_share: float, towns_p) -> dict[str, np.ndarray]:
    """n people of one kind, aged (on the first delivered day) by the pyramid `ages`."""
    group = rng.choice(len(ages), size=n, p=np.asarray(ages) / sum(ages))
    age = group * 5 + rng.random(n) * 5
    # Children born in the simulated history come from the births: the rest are older.
    age = np.where(age < 2.1, 2.1 + rng.random(n) * 2.9, age)
    born = w.window_start - (age * 365.25).astype(np.int64)
    male = rng.random(n) < male_share
    town = rng.choice(len(w.towns), size=n, p=towns_p).astype(np.int64)
    return {
        "kind": np.full(n, kind, dtype=np.int8),
        "born": born,
        "male": male,
        "name": rng.integers(0, NAMES_PER_SEX, n) + np.where(male, 0, NAMES_PER_SEX),
        "town": town,
        "area": w.random_area(rng, town),
        "ethnicity": np.where(rng.random(n) < 0.985, 1, rng.integers(2, 57, n)).astype(np.int8),
        "marital0": _initial_marital(rng, age),
        "mar_day": np.full(n, NONE, dtype=np.int64),
        "marital1": np.zeros(n, dtype=np.int16),
        "hj_in": np.full(n, NONE, dtype=np.int64),
        "hj_out": np.full(n, NONE, dtype=np.int64),
        "hj_out_kind": np.zeros(n, dtype=np.int8),
        "old15": np.zeros(n, dtype=bool),
        "steady": np.zeros(n, dtype=bool),  # present through the whole simulation
        "children0": np.full(n, NONE, dtype=np.int16),
    }


def _initial_marital(rng, age: np.ndarray) -> np.ndarray:
    """GB/T 2261.2 codes by age: married (20/21/22/23), single, divorced, widowed, 90."""
    married = np.interp(age, [19.9, 20, 25, 30, 35, 40, 60, 75, 90], [0, .12, .45, .76, .85, .88, .88, .75, .5])
    divorced = np.interp(age, [24, 30, 45, 60, 80], [0, .03, .06, .05, .03])
    widowed = np.interp(age, [50, 60, 70, 80, 95], [0, .02, .07, .18, .4])
    u = rng.random(len(age))
    code = np.full(len(age), 10, dtype=np.int16)
    code[u < married + divorced + widowed] = 30
    code[u < married + divorced] = 40
    is_married = u < married
    code[is_married] = pick(rng, [20, 21, 22, 23], [.5, .38, .1, .02], int(is_married.sum()))
    code[rng.random(len(age)) < 0.003] = 90
    return code


def _registered(rng, w: World) -> dict[str, np.ndarray]:
    """Registered residents: present ones, a history of those who left or died before the
    first file, exits and arrivals during the delivered window."""
    n_hist = round(w.preset.registered * 0.05)
    n = w.preset.registered + n_hist
    weights = np.array([t.weight * (1 - t.floating_share) for t in w.towns])
    g = _people(rng, w, n, REGISTERED, REGISTERED_AGES, 0.49, weights / weights.sum())
    g["addr"] = np.where(rng.random(n) < 0.72, 310112,
                         np.where(rng.random(n) < 0.45, pick(rng, SHANGHAI_COUNTIES, np.ones(14), n),
                                  pick(rng, HOME_COUNTIES, HOME_WEIGHTS, n)))
    age = (w.window_start - g["born"]) / 365.25
    old = g["born"] < day_no(date(1960, 1, 1))
    g["old15"] = old & (rng.random(n) < 0.05)
    # Past moves: some have a 变动日期 long before the window (moved in, changed address).
    past = rng.random(n) < 0.25
    g["hj_in"][past] = rng.integers(day_no(date(1995, 1, 1)), w.sim_start, int(past.sum()))
    g["hj_in"] = np.where(g["hj_in"] > g["born"], g["hj_in"], NONE)
    # History: left or died in the five years before the window; kept in every snapshot.
    hist = np.zeros(n, dtype=bool)
    hist[rng.choice(n, n_hist, replace=False)] = True
    death = 0.0004 * np.exp(0.085 * (age - 20))
    migrate = np.where((age > 18) & (age < 65), 0.008, 0.002)
    g["hj_out"][hist] = rng.integers(w.window_start - 5 * 365, w.window_start, int(hist.sum()))
    g["hj_out_kind"][hist] = np.where(rng.random(int(hist.sum())) < death[hist] / (death + migrate)[hist], 2, 1)
    # Exits from the window on (those after the last file shape only who can be a mother).
    years = (w.sim_end - w.window_start) / 365.25
    leaves = ~hist & (rng.random(n) < 1 - np.exp(-(death + migrate) * years))
    g["hj_out"][leaves] = rng.integers(w.window_start, w.sim_end, int(leaves.sum()))
    g["hj_out_kind"][leaves] = np.where(rng.random(int(leaves.sum())) < (death / (death + migrate))[leaves], 2, 1)
    # Arrivals during the window: absent from the snapshots before their 变动日期.
    arrive = ~hist & ~leaves & (rng.random(n) < 0.01 * (w.last_as_of - w.window_start) / 365.25)
    g["hj_in"][arrive] = rng.integers(w.window_start, w.last_as_of + 1, int(arrive.sum()))
    g["steady"] = (g["hj_out"] == NONE) & ((g["hj_in"] == NONE) | (g["hj_in"] < w.sim_start))
    return g


def _floating(rng, w: World, n_registered: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Floating residents and their residence registrations (rkb_ldrk rows): long
    stayers, leavers and newcomers during the window, registrations that ended before it,
    earlier registrations of people who moved within the district."""
    f = w.preset.floating
    window_years = (w.last_as_of - w.window_start) / 365.25
    n_leave = round(f * 0.12 * window_years)
    n_stay, n_new, n_gone = f - n_leave, n_leave, round(f * 0.15)
    n = n_stay + n_leave + n_new + n_gone
    weights = np.array([t.weight * t.floating_share for t in w.towns])
    g = _people(rng, w, n, FLOATING, FLOATING_AGES, 0.53, weights / weights.sum())
    g["addr"] = pick(rng, HOME_COUNTIES, HOME_WEIGHTS, n)
    role = np.repeat(np.arange(4), [n_stay, n_leave, n_new, n_gone])  # stay, leave, new, gone
    reg_day = w.window_start - np.minimum(rng.exponential(3 * 365, n), 10 * 365).astype(np.int64) - 1
    reg_day[role == 2] = rng.integers(w.window_start, w.last_as_of + 1, n_new)
    reg_day[role == 3] = rng.integers(w.window_start - 6 * 365, w.window_start - 200, n_gone)
    reg_day = np.maximum(reg_day, g["born"] + 1)
    dereg = np.full(n, NONE, dtype=np.int64)
    dereg[role == 1] = rng.integers(w.window_start, w.last_as_of + 1, n_leave)
    gone = role == 3
    dereg[gone] = np.minimum(reg_day[gone] + rng.integers(90, 1500, n_gone), w.window_start - 1)
    g["steady"] = (role == 0) & (reg_day < w.sim_start)
    hukou = np.where(rng.random(n) < 0.85, g["addr"], pick(rng, HOME_COUNTIES, HOME_WEIGHTS, n))
    person = np.arange(n_registered, n_registered + n)
    regs = {"person": person, "reg_day": reg_day, "dereg_day": dereg, "area": g["area"], "hukou": hukou}
    # Moved within the district: an earlier registration elsewhere, ended when they moved.
    movers = np.flatnonzero((role == 0) & (rng.random(n) < 0.04))
    before = reg_day[movers] - rng.integers(200, 1500, len(movers))
    keep = before > g["born"][movers]
    movers, before = movers[keep], before[keep]
    moved = {"person": person[movers], "reg_day": before,
             "dereg_day": reg_day[movers] - rng.integers(1, 30, len(movers)),
             "area": w.random_area(rng, rng.integers(0, len(w.towns), len(movers))),
             "hukou": hukou[movers]}
    return g, concat([regs, moved])


def _registered_elsewhere(rng, w: World, registered: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A few registered residents also hold a floating registration in another town (a
    hukou county of 310112): they count as registered."""
    adults = np.flatnonzero(registered["steady"] & (w.window_start - registered["born"] > 20 * 365))
    chosen = rng.choice(adults, size=max(1, round(w.preset.floating * 0.003)), replace=False)
    return {"person": chosen, "reg_day": rng.integers(w.window_start - 4 * 365, w.window_start, len(chosen)),
            "dereg_day": np.full(len(chosen), NONE, dtype=np.int64),
            "area": w.random_area(rng, rng.integers(0, len(w.towns), len(chosen))),
            "hukou": np.full(len(chosen), 310112)}


def _external_mothers(rng, w: World, n: int) -> dict[str, np.ndarray]:
    """Women who give birth while living outside the district (母亲现住址 elsewhere)."""
    g = _people(rng, w, n, EXTERNAL, (0, 0, 0, 0, 1, 6, 9, 7, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), 0.0,
                np.full(len(w.towns), 1 / len(w.towns)))
    shanghai = rng.random(n) < 0.65
    g["addr"] = np.where(shanghai, pick(rng, SHANGHAI_COUNTIES, np.ones(14), n),
                         pick(rng, HOME_COUNTIES, HOME_WEIGHTS, n))
    county = np.where(shanghai, g["addr"], pick(rng, (310104, 310115, 310117, 310120), (3, 3, 2, 2), n))
    g["area"] = county * 1_000_000 + rng.integers(1, 20, n) * 1000 + rng.integers(1, 40, n)
    g["marital0"][:] = 20
    g["steady"][:] = True
    return g


class _Pool:
    """People grouped by birth year, so that someone of a given age is one lookup away."""

    def __init__(self, people: np.ndarray, born: np.ndarray):
        years = years_of(born[people])
        order = np.argsort(years, kind="stable")
        self.people, years = people[order], years[order]
        self.first = int(years[0]) if len(years) else 0
        self.bounds = np.searchsorted(years, np.arange(self.first, self.first + 130))

    def pick(self, rng, year: int) -> int:
        k = year - self.first
        if not 0 <= k < len(self.bounds) - 1 or self.bounds[k] == self.bounds[k + 1]:
            return NONE
        lo, hi = self.bounds[k], self.bounds[k + 1]
        return int(self.people[lo + int(rng.random() * (hi - lo))])


def _monthly_days(rng, first: int, last: int, per_year: float, season: Callable[[int], float]) -> np.ndarray:
    """Event days between two days, Poisson per month, scaled by a seasonal factor."""
    days = []
    month = from_day(first).replace(day=1)
    while day_no(month) <= last:
        lo, hi = max(day_no(month), first), min(day_no(month_end(month)), last)
        in_month = day_no(month_end(month)) - day_no(month) + 1
        k = rng.poisson(per_year / 12 * season(month.month) * (hi - lo + 1) / in_month)
        days.append(rng.integers(lo, hi + 1, k))
        month = add_months(month, 1)
    return np.sort(np.concatenate(days))


def _marriages(rng, w: World) -> dict[str, np.ndarray]:
    """Marriage registrations (mzj_hydj); each changes the spouses' marital status."""
    p = w.p
    days = _monthly_days(rng, w.sim_start, w.last_as_of, w.preset.marriages_per_year,
                         lambda m: 1.25 if m in (1, 5, 10) else 0.93)
    kinds = pick(rng, [0, 1, 2], [0.85, 0.12, 0.03], len(days))  # 结婚, 离婚, 补发
    steady = p["steady"] & (p["kind"] != EXTERNAL)
    pools = {}
    for male in (True, False):
        for married in (False, True):
            codes = (p["marital0"] >= 20) & (p["marital0"] <= 23)
            pools[male, married] = _Pool(np.flatnonzero(steady & (p["male"] == male) & (codes == married)), p["born"])
    rows = {"day": [], "type": [], "husband": [], "wife": []}
    for day, kind in zip(days.tolist(), kinds.tolist(), strict=True):
        year = from_day(day).year
        married = kind != 0
        for _ in range(10):  # a few tries: people of the right age may all have married already
            age = rng.normal(31 if married else 28, 4)
            man = pools[True, married].pick(rng, year - int(age + 2))
            woman = pools[False, married].pick(rng, year - int(age))
            if NONE not in (man, woman) and p["mar_day"][man] < 0 and p["mar_day"][woman] < 0:
                break
        else:
            continue
        if kind != 2:  # a reissue changes nothing
            for person in (man, woman):
                p["mar_day"][person] = day
                p["marital1"][person] = 40 if kind == 1 else (21 if rng.random() < 0.6 else 20)
        for k, v in (("day", day), ("type", kind), ("husband", man), ("wife", woman)):
            rows[k].append(v)
    t = {k: np.array(v, dtype=np.int64) for k, v in rows.items()}
    prefix = np.array(["J", "L", "BJ"])[t["type"]]
    serial = np.arange(len(t["day"]))
    t["no"] = np.array([f"{x}310112-{from_day(d).year}-{s:06d}" for x, d, s in
                        zip(prefix, t["day"].tolist(), serial.tolist(), strict=True)], dtype=object)
    t["office"] = pick(rng, [0, 1], [0.8, 0.2], len(serial))
    return t


def _births(rng, w: World) -> dict[str, np.ndarray]:
    """Births (wsj_csyxzm), from the history start to beyond the last file (the future
    ones are never delivered, but their registrations and checks are)."""
    p = w.p
    days = _monthly_days(rng, w.sim_start, w.sim_end, w.preset.births_per_year,
                         lambda m: 1 + 0.1 * math.cos(2 * math.pi * (m - 9.5) / 12))
    women = _Pool(np.flatnonzero(p["steady"] & ~p["male"] & (p["kind"] <= FLOATING)), p["born"])
    men = _Pool(np.flatnonzero(p["steady"] & p["male"] & (p["kind"] <= FLOATING)), p["born"])
    external = iter(np.flatnonzero(p["kind"] == EXTERNAL).tolist())
    mar_day, before, after = p["mar_day"], p["marital0"], p["marital1"]

    def married(m: int, day: int) -> bool:
        return 20 <= (after[m] if 0 <= mar_day[m] <= day else before[m]) <= 23

    # Random draws up front: a Python loop over numpy scalars is slow.
    n, tries = len(days), 12
    ages = np.clip(rng.normal(30, 4.5, (n, tries)), 20, 41).astype(np.int64).tolist()
    u = rng.random((n, tries)).tolist()
    first_order = pick(rng, [1, 2, 3, 4], [0.58, 0.37, 0.045, 0.005], n).tolist()
    gap = np.round(rng.normal(2, 2.5, n)).astype(np.int64).tolist()
    named = (rng.random(n) < 0.92).tolist()
    outside = (rng.random(n) < 0.03).tolist()
    born_year = years_of(p["born"])
    last_birth, order_of, partner = {}, {}, {}
    rows = {k: [] for k in ("day", "mother", "father", "partner", "order")}
    for i, (day, year) in enumerate(zip(days.tolist(), years_of(days).tolist(), strict=True)):
        mother = next(external, NONE) if outside[i] else NONE
        for age, x in zip(ages[i], u[i], strict=True):
            if mother != NONE:
                break
            m = women.pick(rng, year - age)
            if m == NONE or last_birth.get(m, -10**6) > day - 450:
                continue
            if m in last_birth and x < 0.8:  # most births are to women new to the data
                continue
            if married(m, day) or x > 0.96:
                mother = m
        if mother == NONE:
            continue
        order_of[mother] = order_of[mother] + 1 if mother in order_of else first_order[i]
        if mother not in last_birth:
            p["children0"][mother] = order_of[mother] - 1
        last_birth[mother] = day
        if mother not in partner:
            partner[mother] = men.pick(rng, int(born_year[mother]) - gap[i])
        for k, v in (("day", day), ("mother", mother), ("partner", partner[mother]),
                     ("father", partner[mother] if named[i] else NONE), ("order", order_of[mother])):
            rows[k].append(v)
    t = {k: np.array(v, dtype=np.int64) for k, v in rows.items()}
    n = len(t["day"])
    mothers = t["mother"]
    t["town"] = np.where(p["kind"][mothers] == EXTERNAL, NONE, p["town"][mothers])
    t["area"] = p["area"][mothers]  # registered address, latest floating registration, or outside
    t["mtype"] = np.where(p["kind"][mothers] == EXTERNAL, (p["addr"][mothers] // 10000 != 31).astype(np.int64),
                          (p["kind"][mothers] == FLOATING).astype(np.int64))
    srb = np.array([t_.srb for t_ in w.towns] + [105.0])[t["town"]]
    t["male"] = rng.random(n) < srb / (100 + srb)
    t["weeks"] = np.clip(np.round(rng.normal(39, 1.6, n)), 28, 42).astype(np.int64)
    t["weight"] = np.clip(np.round(3300 + (t["weeks"] - 39) * 180 + rng.normal(0, 420, n) + t["male"] * 100),
                          800, 5200).astype(np.int64)
    t["hospital"] = pick(rng, np.arange(len(HOSPITALS)), HOSPITAL_WEIGHTS, n)
    years = years_of(t["day"])
    serial = np.zeros(n, dtype=np.int64)
    for y in np.unique(years):
        serial[years == y] = np.arange(int((years == y).sum()))
    letters = np.array([chr(65 + int(y - 2000) % 26) for y in years], dtype=object)
    t["cert"] = np.array([f"{c}{311200000 + s * 7 % 688000000}" for c, s in
                          zip(letters, serial.tolist(), strict=True)], dtype=object)
    return t


def _newborns(rng, w: World, births: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Children of registered mothers get a hukou: they join gaj_hjrk after registration."""
    take = np.flatnonzero(w.p["kind"][births["mother"]] == REGISTERED)
    n = len(take)
    male = births["male"][take]
    mothers = births["mother"][take]
    g = {k: np.zeros(n, dtype=v.dtype) for k, v in w.p.items()}
    g.update({
        "kind": np.full(n, NEWBORN, dtype=np.int8), "born": births["day"][take], "male": male,
        "name": rng.integers(0, NAMES_PER_SEX, n) + np.where(male, 0, NAMES_PER_SEX),
        "town": w.p["town"][mothers], "area": w.p["area"][mothers], "ethnicity": w.p["ethnicity"][mothers],
        "marital0": np.full(n, 10, dtype=np.int16), "mar_day": np.full(n, NONE, dtype=np.int64),
        "hj_in": births["day"][take] + rng.integers(7, 45, n), "hj_out": np.full(n, NONE, dtype=np.int64),
        "children0": np.full(n, NONE, dtype=np.int16), "addr": np.full(n, 310112),
    })
    return g


def _assign_ids(w: World) -> None:
    """Unique sequence numbers within address code and birth date, odd for men, even for
    women, so that every person's ID number is valid and distinct."""
    p = w.p
    key = (p["addr"].astype(np.int64) * 100_000 + p["born"]) * 2 + p["male"]
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    rank = np.arange(len(key)) - np.repeat(starts, np.diff(np.r_[starts, len(key)]))
    offset = (sorted_key * 40503) % 500  # scatters the numbers a little
    seq = np.empty(len(key), dtype=np.int64)
    male = p["male"][order]
    seq[order] = np.where(male, 1 + 2 * ((rank + offset) % 500), 2 + 2 * ((rank + offset) % 499))  # never 000
    if rank.max(initial=0) >= 499:
        raise RuntimeError("more than 500 people share an address code, birth date and sex")
    w.ids = id_numbers(p["addr"], p["born"], seq)


def populate(w: World, say: Callable[[str], None]) -> None:
    """Fill the world's towns and people: residents, their marriages and births, the
    newborns who join the register, and everyone's ID number."""
    seed, preset = w.seed, w.preset
    rng = stream(seed, "world")
    w.towns = _towns(rng, preset)
    w.names = _name_table(rng)
    say("population")
    registered = compact(_registered(rng, w))
    floating, regs = _floating(rng, w, len(registered["kind"]))
    floating = compact(floating)
    w.flo = compact(concat([regs, _registered_elsewhere(rng, w, registered)]))
    years = (w.sim_end - w.sim_start) / 365.25
    externals = _external_mothers(rng, w, 10 + math.ceil(preset.births_per_year * years * 0.04))
    w.p = compact(concat([registered, floating, externals]))
    say("marriages and births")
    w.tables["mzj_hydj"] = _marriages(stream(seed, "mzj_hydj"), w)
    births = _births(stream(seed, "births"), w)
    w.tables["wsj_csyxzm"] = births = compact(births)
    w.p = compact(concat([w.p, _newborns(rng, w, births)]))
    _assign_ids(w)
