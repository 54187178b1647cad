"""The services' records, built from the district's people: newborn screening, pre-pregnancy
and premarital checks, birth-service registrations, checks of floating women's
certificates, early-education sign-ins, hotels, contraceptive distribution points and
their inspections, service sites and their assessments, and the commission's files of
women of childbearing age."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date

import numpy as np

from include.synthetic.dates import add_months, anniversary, day_no, from_day, month_end, years_of
from include.synthetic.identifiers import credit_code
from include.synthetic.randomness import pick, stream
from include.synthetic.vocabulary import (
    CONTRACEPTION_MARRIED,
    CONTRACEPTION_SINGLE,
    HOTEL_BRANDS,
    HOTEL_KINDS,
    POINT_TYPES,
    POINT_WEIGHTS,
)
from include.synthetic.world import FLOATING, NONE, REGISTERED, World, compact, concat, subset


def _sorted_by_day(t: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    order = np.argsort(t["day"], kind="stable")
    return {k: v[order] for k, v in t.items()}


def _first_of_keys(*columns: np.ndarray) -> np.ndarray:
    """Indices of the first row of each distinct key (so a file never repeats a key)."""
    if len(columns[0]) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort(columns[::-1])
    same = np.ones(len(order) - 1, dtype=bool)
    for c in columns:
        same &= c[order][1:] == c[order][:-1]
    return np.sort(order[np.r_[True, ~same]])


def _in_district(w: World) -> np.ndarray:
    return w.tables["wsj_csyxzm"]["town"] >= 0


def _diligence(w: World, towns: np.ndarray) -> np.ndarray:
    return np.array([t.diligence for t in w.towns])[towns]


def _screenings(rng, w: World) -> dict[str, np.ndarray]:
    """Newborn screening (wsj_xsesc) for about 97% of births, 2-7 days after birth."""
    b = w.tables["wsj_csyxzm"]
    take = np.flatnonzero(rng.random(len(b["day"])) < 0.97)
    return {"day": b["day"][take] + rng.integers(2, 8, len(take)), "cert": b["cert"][take],
            "result": pick(rng, [0, 1, 2], [0.985, 0.003, 0.012], len(take))}


def _wives(w: World) -> np.ndarray:
    """Married women of 22 to 38 living in the district throughout."""
    p = w.p
    age = w.window_start - p["born"]
    return np.flatnonzero(p["steady"] & ~p["male"] & (p["kind"] <= FLOATING) & (p["marital0"] >= 20)
                          & (p["marital0"] <= 23) & (age > 22 * 365) & (age < 38 * 365))


def _preconception(rng, w: World) -> dict[str, np.ndarray]:
    """Pre-pregnancy checks (wsj_yqjc): most mothers 180-730 days before the birth, some
    outside that window, and couples who have not (yet) had a child."""
    b = w.tables["wsj_csyxzm"]
    inside = np.flatnonzero(_in_district(w) & (rng.random(len(b["day"])) < np.where(b["mtype"] == 0, 0.75, 0.5)))
    lead = rng.integers(180, 731, len(inside))
    off = rng.random(len(inside)) < 0.1
    lead[off] = np.where(rng.random(int(off.sum())) < 0.5, rng.integers(60, 180, int(off.sum())),
                         rng.integers(731, 900, int(off.sum())))
    p = w.p
    n_extra = round(len(inside) * 0.4)
    extra = rng.choice(_wives(w), n_extra)
    day = np.r_[b["day"][inside] - lead, rng.integers(w.sim_start, w.last_as_of + 1, n_extra)]
    man = np.r_[b["partner"][inside], np.full(n_extra, NONE)]
    man[rng.random(len(man)) < 0.15] = NONE
    woman = np.r_[b["mother"][inside], extra]
    town = p["town"][woman]
    t = {"day": day, "woman": woman, "man": man, "town": town,
         "institution": np.where(rng.random(len(day)) < 0.3, len(w.towns), town),
         "risk": (rng.random(len(day)) < 0.12).astype(np.int64)}
    return subset(t, _first_of_keys(t["woman"], t["day"]))


def _premarital(rng, w: World) -> dict[str, np.ndarray]:
    """Premarital exams (wsj_hqjc) for part of the spouses, mostly within the year
    before the registration; a few too early, and some of people married elsewhere."""
    m = w.tables["mzj_hydj"]
    weds = np.flatnonzero(m["type"] == 0)
    person = np.r_[m["husband"][weds], m["wife"][weds]]
    wed_day = np.r_[m["day"][weds], m["day"][weds]]
    rate = np.where(w.p["kind"][person] == REGISTERED, 0.6, 0.4)
    take = rng.random(len(person)) < rate
    person, wed_day = person[take], wed_day[take]
    lead = np.minimum(rng.exponential(45, len(person)).astype(np.int64) + 1, 364)
    early = rng.random(len(person)) < 0.04
    lead[early] = rng.integers(366, 500, int(early.sum()))
    n_extra = round(len(person) * 0.1)
    adults = np.flatnonzero(w.p["steady"] & (w.p["marital0"] == 10) & (w.window_start - w.p["born"] > 22 * 365))
    extra = rng.choice(adults, n_extra) if len(adults) else np.zeros(0, dtype=np.int64)
    t = {"day": np.r_[wed_day - lead, rng.integers(w.sim_start, w.last_as_of + 1, n_extra)],
         "person": np.r_[person, extra]}
    t["institution"] = np.where(rng.random(len(t["day"])) < 0.6, len(w.towns), w.p["town"][t["person"]])
    return subset(t, _first_of_keys(t["person"], t["day"]))


def _birth_registrations(rng, w: World) -> dict[str, np.ndarray]:
    """Birth-service registrations (jsw_sydj). Most precede the birth and cover its
    order; some come after it, approve a lower order or have expired; some births have
    none (floating mothers more often). A few registrations lead to no birth."""
    b = w.tables["wsj_csyxzm"]
    births = np.flatnonzero(_in_district(w))
    floating = b["mtype"][births] == 1
    u = rng.random(len(births))
    none, late, lower, expired = (np.where(floating, x, y) for x, y in
                                  ((0.07, 0.005), (0.03, 0.006), (0.01, 0.003), (0.01, 0.003)))
    fate = np.select([u < none, u < none + late, u < none + late + lower, u < none + late + lower + expired],
                     [0, 1, 2, 3], 4)
    births, fate = births[fate > 0], fate[fate > 0]
    bday, order = b["day"][births], b["order"][births]
    day = bday - rng.integers(60, 280, len(births))
    day[fate == 1] = bday[fate == 1] + rng.integers(5, 60, int((fate == 1).sum()))
    approved = np.where((fate == 2) & (order > 1), order - 1, order)
    valid = np.where(rng.random(len(births)) < 0.6, NONE, day + rng.integers(365, 731, len(births)))
    valid = np.where((valid != NONE) & (valid < bday), bday + rng.integers(1, 200, len(births)), valid)
    exp = fate == 3
    valid[exp] = bday[exp] - rng.integers(5, 120, int(exp.sum()))
    day[exp] = np.minimum(day[exp], valid[exp] - rng.integers(200, 400, int(exp.sum())))
    mothers = b["mother"][births]
    # Registrations that led to no birth (yet): women who then moved away, or miscarried.
    n_extra = round(len(births) * 0.06)
    extra = rng.choice(_wives(w), n_extra)
    t = {"day": np.r_[day, rng.integers(w.sim_start, w.last_as_of + 1, n_extra)],
         "woman": np.r_[mothers, extra],
         "man": np.r_[np.where(rng.random(len(births)) < 0.9, b["partner"][births], NONE), np.full(n_extra, NONE)],
         "approved": np.r_[approved, pick(rng, [1, 2, 3], [0.55, 0.4, 0.05], n_extra)]}
    t["valid"] = np.r_[valid, np.where(rng.random(n_extra) < 0.6, NONE, t["day"][len(births):] + 365)]
    t["area"] = w.random_area(rng, w.p["town"][t["woman"]], office_share=0.6)
    t = _sorted_by_day(t)
    t["no"] = np.array([f"SY{from_day(d).year}{i:07d}" for i, d in enumerate(t["day"].tolist())], dtype=object)
    return t


def _certificate_checks(rng, w: World) -> dict[str, np.ndarray]:
    """Checks of floating women's 婚育证明 (jsw_hyzm) soon after they register (or turn
    18); those found expired or without one are mostly checked again."""
    p, f = w.p, w.flo
    person = f["person"]
    towns = p["town"][person]
    due = np.maximum(f["reg_day"], anniversary(p["born"][person], 18))
    women = ((p["kind"][person] == FLOATING) & ~p["male"][person] & (due < anniversary(p["born"][person], 50))
             & ((f["dereg_day"] == NONE) | (f["dereg_day"] > due + 60)))
    take = np.flatnonzero(women & (rng.random(len(person)) < np.sqrt(_diligence(w, towns))))
    day = due[take] + rng.integers(3, 61, len(take))
    result = pick(rng, [0, 1, 2], [0.9, 0.06, 0.04], len(take))  # 有效, 过期, 无证
    again = np.flatnonzero((result > 0) & (rng.random(len(take)) < 0.85))
    t = {"day": np.r_[day, day[again] + rng.integers(30, 151, len(again))],
         "reg": np.r_[take, take[again]],
         "result": np.r_[result, pick(rng, [0, 1, 2], [0.9, 0.06, 0.04], len(again))]}
    reg_row = t["reg"]
    t["woman"] = person[reg_row]
    t["county"] = np.where(t["result"] == 2, NONE, f["hukou"][reg_row])
    t["area"] = np.where(rng.random(len(reg_row)) < 0.6, f["area"][reg_row] // 1000 * 1000, f["area"][reg_row])
    t = subset(t, _first_of_keys(t["woman"], t["day"]))
    t["cert_year"] = years_of(t["day"]) - rng.integers(0, 3, len(t["day"]))  # the certificate is older
    return t


def _early_education(rng, w: World) -> dict[str, np.ndarray]:
    """Sign-ins at free early-education sessions (jyj_zjpx): children under 3 of the
    district's mothers, about 0.6 sessions a month each; one provider per town plus the
    district centre; sometimes two carers come to one session with the same child."""
    b, p = w.tables["wsj_csyxzm"], w.p
    kids = np.flatnonzero(_in_district(w) & (rng.random(len(b["day"])) < np.where(b["mtype"] == 0, 0.8, 0.55)))
    n_prov = len(w.towns) + 1
    provider = np.where(rng.random(len(kids)) < 0.1, len(w.towns), b["town"][kids])
    age = w.window_start - p["born"]
    carers = np.flatnonzero(p["steady"] & ~p["male"] & (p["kind"] == FLOATING) & (age > 30 * 365))
    grandparents = np.zeros(len(kids), dtype=np.int64)
    for kind in (REGISTERED, FLOATING):  # a grandparent of the family's own population type
        elders = np.flatnonzero(p["steady"] & (p["kind"] == kind) & (age > 52 * 365) & (age < 75 * 365))
        mine = b["mtype"][kids] == kind
        grandparents[mine] = rng.choice(elders, int(mine.sum()))
    helpers = {"母亲": b["mother"][kids], "父亲": b["partner"][kids],
               "祖辈": grandparents, "其他看护人": rng.choice(carers, len(kids))}
    relations = list(helpers)
    parts = []
    month = from_day(w.sim_start)
    while day_no(month) <= w.last_as_of:
        start, end = day_no(month), day_no(month_end(month))
        age = start - b["day"][kids]
        eligible = np.flatnonzero((age >= 30) & (age < 3 * 365))
        k = rng.poisson(0.6, len(eligible))
        child = np.repeat(eligible, k)
        sessions = np.maximum(2, np.ceil(np.bincount(provider[eligible], minlength=n_prov) * 0.6 / 8)).astype(np.int64)
        s = (rng.random(len(child)) * sessions[provider[child]]).astype(np.int64)
        child, s = (x[_first_of_keys(child, s)] for x in (child, s))
        session_day = start + rng.integers(0, end - start + 1, (n_prov, int(sessions.max(initial=2))))
        rel = pick(rng, [0, 1, 2, 3], [0.6, 0.15, 0.2, 0.05], len(child))
        two = np.flatnonzero(rng.random(len(child)) < 0.1)
        second = np.where(rel[two] == 0, np.where(rng.random(len(two)) < 0.6, 1, 2), 0)
        child, s, rel = np.r_[child, child[two]], np.r_[s, s[two]], np.r_[rel, second]
        prov = provider[child]
        # The session number ZJ<yyyymm><provider:02><session:03>, kept as its digits.
        parts.append({"day": session_day[prov, s], "kid": child, "rel": rel, "provider": prov,
                      "session": (month.year * 100 + month.month) * 100_000 + prov.astype(np.int64) * 1000 + s})
        month = add_months(month, 1)
    t = concat(parts)
    who = np.stack([helpers[r][t["kid"]] for r in relations])
    t["attendee"] = who[t["rel"], np.arange(len(t["rel"]))]
    missing = t["attendee"] == NONE  # no known father: the mother came
    t["attendee"][missing], t["rel"][missing] = b["mother"][kids][t["kid"][missing]], 0
    births = kids[t["kid"]]
    t["cert"], t["mtype"] = b["cert"][births], b["mtype"][births]
    return subset(t, _first_of_keys(t["session"], t["cert"], t["attendee"]))


def _quarters(w: World) -> Iterator[tuple[int, int]]:
    q = from_day(w.sim_start)
    while day_no(q) <= w.last_as_of:
        end = month_end(add_months(q, 2))
        yield day_no(q), min(day_no(end), w.last_as_of)
        q = add_months(q, 3)


def _hotels(rng, w: World) -> dict[str, np.ndarray]:
    """Hotel businesses (gsj_lgqy): most open, some closed or revoked before the window,
    a few closing or opening during it."""
    n = w.preset.hotels
    weights = np.array([t.weight for t in w.towns])
    town = rng.choice(len(w.towns), n, p=weights / weights.sum())
    founded = rng.integers(day_no(date(1998, 1, 1)), w.window_start, n)
    new = rng.random(n) < 0.04
    founded[new] = rng.integers(w.window_start, w.last_as_of + 1, int(new.sum()))
    closed = np.full(n, NONE, dtype=np.int64)
    u = rng.random(n)
    past = ~new & (u < 0.12)
    closed[past] = np.minimum(founded[past] + rng.integers(365, 5000, int(past.sum())), w.window_start - 1)
    during = ~new & (u >= 0.12) & (u < 0.15)
    closed[during] = rng.integers(w.window_start, w.last_as_of + 1, int(during.sum()))
    closed = np.where(closed <= founded, NONE, closed)
    names = [f"上海{w.towns[t].short}{HOTEL_BRANDS[b]}{HOTEL_KINDS[k]}{'有限公司' if c else ''}" for t, b, k, c in
             zip(town.tolist(), rng.integers(0, len(HOTEL_BRANDS), n).tolist(),
                 rng.integers(0, len(HOTEL_KINDS), n).tolist(), (rng.random(n) < 0.7).tolist(), strict=True)]
    return {"code": np.array([credit_code(rng, kind="91" if rng.random() < 0.8 else "92") for _ in range(n)],
                             dtype=object),
            "name": np.array(names, dtype=object), "town": town, "area": w.random_area(rng, town),
            "founded": founded, "closed": closed, "closed_kind": np.where(rng.random(n) < 0.7, 1, 2)}


def _points(rng, w: World) -> dict[str, np.ndarray]:
    """Contraceptive distribution points: one in most hotels, the rest in communities,
    workplaces, entertainment venues and schools."""
    h = w.tables["gsj_lgqy"]
    coverage = _diligence(w, h["town"]) ** 2
    open_then = (h["closed"] == NONE) | (h["closed"] >= w.sim_start)
    hotels = np.flatnonzero(open_then & (rng.random(len(h["code"])) < coverage))
    n_other = max(w.preset.points - len(hotels), len(w.towns))
    weights = np.array([t.weight for t in w.towns])
    town = np.r_[h["town"][hotels], rng.choice(len(w.towns), n_other, p=weights / weights.sum())]
    kind = np.r_[np.full(len(hotels), 6), pick(rng, np.arange(7), POINT_WEIGHTS, n_other)]
    has_code = (kind == 2) | ((kind == 4) & (rng.random(len(kind)) < 0.3))
    code = np.array([credit_code(rng) if c else "" for c in has_code[len(hotels):]], dtype=object)
    area = np.r_[h["area"][hotels], w.random_area(rng, town[len(hotels):])]
    names = [f"{h['name'][i]}药具发放点" for i in hotels] + [
        f"{w.towns[t].short}{a % 1000:03d}{POINT_TYPES[k]}药具发放点" for t, a, k in
        zip(town[len(hotels):].tolist(), area[len(hotels):].tolist(), kind[len(hotels):].tolist(), strict=True)]
    return {"no": np.array([f"YJ{w.towns[t].code}{i:05d}" for i, t in enumerate(town.tolist())], dtype=object),
            "name": np.array(names, dtype=object), "kind": kind, "area": area, "town": town,
            "code": np.r_[h["code"][hotels], code],
            "from": np.r_[np.maximum(h["founded"][hotels], w.sim_start), np.full(n_other, w.sim_start)],
            "to": np.r_[h["closed"][hotels], np.full(n_other, NONE)]}


def _point_inspections(rng, w: World) -> dict[str, np.ndarray]:
    """Quarterly inspections of every open point (jsw_yjd), a few twice; each of the five
    items fails now and then, more often in less diligent towns."""
    pts = w.points
    fail = 0.015 + (1 - _diligence(w, pts["town"])) * 0.3
    parts = []
    for lo, hi in _quarters(w):
        open_ = np.flatnonzero((pts["from"] <= hi) & ((pts["to"] == NONE) | (pts["to"] > lo))
                               & (rng.random(len(pts["no"])) < 0.93))
        first = np.maximum(lo, pts["from"][open_])
        last = np.where(pts["to"][open_] == NONE, hi, np.minimum(hi, pts["to"][open_] - 1))
        ok = first <= last
        open_, first, last = open_[ok], first[ok], last[ok]
        day = first + (rng.random(len(open_)) * (last - first + 1)).astype(np.int64)
        again = np.flatnonzero((rng.random(len(open_)) < 0.08) & (day + 10 <= last))
        point = np.r_[open_, open_[again]]
        day = np.r_[day, day[again] + (rng.random(len(again)) * (last[again] - day[again] - 9)).astype(np.int64) + 10]
        items = rng.random((len(point), 5)) < np.r_[fail[open_], fail[open_[again]] / 3][:, None]
        parts.append({"day": day, "point": point, "items": items})
    return concat(parts)


def _sites(rng, w: World) -> dict[str, np.ndarray]:
    """Service sites: a station in every town and a guidance room in most villages."""
    rows = []
    for i, t in enumerate(w.towns):
        rows.append((i, 0, int(t.code) * 1000, f"{t.name}人口和计划生育综合服务站"))
        for v in range(1, t.villages + 1):
            if rng.random() < 0.8:
                rows.append((i, 1, int(t.code) * 1000 + v, f"{t.short}第{v}居（村）家庭计划指导室"))
    town, level, area, name = (np.array(x) for x in zip(*rows, strict=True))
    return {"no": np.array([f"FW{a}" for a in area.tolist()], dtype=object), "town": town, "level": level,
            "area": area, "name": name.astype(object),
            "quality": rng.normal(80 + 10 * _diligence(w, town), 5)}


def _site_assessments(rng, w: World) -> dict[str, np.ndarray]:
    """Quarterly standardisation assessments (jsw_fwz), mostly in the quarter's last
    month; a few sites are assessed twice."""
    s = w.sites
    parts = []
    for lo, hi in _quarters(w):
        site = np.flatnonzero(rng.random(len(s["no"])) < 0.9)
        first = max(lo, hi - 40)
        day = rng.integers(first, hi + 1, len(site))
        again = np.flatnonzero((rng.random(len(site)) < 0.04) & (day < hi))
        site = np.r_[site, site[again]]
        day = np.r_[day, day[again] + 1 + (rng.random(len(again)) * (hi - day[again])).astype(np.int64)]
        parts.append({"day": day, "site": site})
    t = concat(parts)
    t["score"] = np.round(np.clip(s["quality"][t["site"]] + rng.normal(0, 4, len(t["day"])), 40, 100), 1)
    return subset(t, _first_of_keys(t["site"], t["day"]))


def _wcba_files(rng, w: World) -> dict[str, np.ndarray]:
    """The commission's files of women of childbearing age (jsw_ylfn): one per woman who
    is 15-49 during the window, for most of them; some fields disagree with the police
    or population office (the accuracy indicator's subject), some files outlive the
    woman's stay."""
    p = w.p
    first_day = day_no(w.as_of[0])
    women = np.flatnonzero(~p["male"] & ((p["kind"] == REGISTERED) | (p["kind"] == FLOATING))
                           & (anniversary(p["born"], 50) > first_day) & (anniversary(p["born"], 15) <= w.last_as_of))
    town = p["town"][women]
    floating = p["kind"][women] == FLOATING
    filed = rng.random(len(women)) < _diligence(w, town) + np.where(floating, 0.01, 0.03)
    women, town, floating = women[filed], town[filed], floating[filed]
    n = len(women)
    # Floating women: their latest registration (the one the commission knows of).
    f = w.flo
    order = np.lexsort((f["reg_day"], f["person"]))
    ordered = f["person"][order]
    is_last = np.r_[ordered[1:] != ordered[:-1], True]
    last_person, last_row = ordered[is_last], order[is_last]
    pos = np.minimum(np.searchsorted(last_person, women), len(last_person) - 1)
    latest = np.where(last_person[pos] == women, last_row[pos], NONE)
    floating_reg = floating & (latest != NONE)
    reg_day = np.where(floating_reg, f["reg_day"][latest], NONE)
    dereg = np.where(floating_reg, f["dereg_day"][latest], NONE)
    teen = anniversary(p["born"][women], 15)
    arrived = np.maximum(np.maximum(teen, day_no(date(2005, 1, 1))), p["hj_in"][women])
    filed_day = np.where(floating_reg, reg_day + rng.integers(5, 91, n), arrived + rng.integers(0, 121, n))
    left = np.where(floating_reg, dereg, p["hj_out"][women])
    removed = np.where((left != NONE) & (rng.random(n) < 0.55), left + rng.integers(30, 180, n), NONE)
    area = np.where(floating_reg, f["area"][latest], p["area"][women])
    u = rng.random(n)
    error = np.select([u < 0.02, u < 0.04, u < 0.055, u < 0.065], [1, 2, 3, 4], 0)  # birth, marital, town, type
    shown_born = p["born"][women] + np.where(error == 1, rng.choice([-1, 1], n) * rng.integers(1, 40, n), 0)
    other_town = (town + rng.integers(1, len(w.towns), n)) % len(w.towns)
    area = np.where(error == 3, w.random_area(rng, other_town), area)
    married = (p["marital0"][women] >= 20) & (p["marital0"][women] <= 23)
    contraception = np.where(married, pick(rng, np.arange(7), CONTRACEPTION_MARRIED, n),
                             pick(rng, np.arange(7), CONTRACEPTION_SINGLE, n))
    children0 = p["children0"][women]
    guess = np.clip(np.round((w.window_start - p["born"][women]) / 365.25 / 14 - 0.9 + rng.normal(0, 0.4, n)), 0, 3)
    return {"person": women, "filed": filed_day, "removed": removed, "area": area, "error": error,
            "born": shown_born, "ptype": np.where(error == 4, ~floating, floating).astype(np.int64),
            "contraception": contraception, "children0": np.where(children0 >= 0, children0, guess).astype(np.int64),
            "period": rng.integers(180, 420, n), "marital_shift": rng.integers(1, 4, n),
            "b15": teen, "b50": anniversary(p["born"][women], 50)}


EVENT_BUILDERS: dict[str, Callable[[np.random.Generator, World], dict[str, np.ndarray]]] = {
    "wsj_xsesc": _screenings,
    "wsj_yqjc": _preconception,
    "wsj_hqjc": _premarital,
    "jsw_sydj": _birth_registrations,
    "jsw_hyzm": _certificate_checks,
    "jyj_zjpx": _early_education,
}


def add_services(w: World) -> None:
    """Fill the services' tables, from the people and their births and marriages."""
    seed = w.seed
    for code, build in EVENT_BUILDERS.items():
        w.tables[code] = compact(_sorted_by_day(build(stream(seed, code), w)))
    w.tables["gsj_lgqy"] = _hotels(stream(seed, "gsj_lgqy"), w)
    w.points = _points(stream(seed, "points"), w)
    w.tables["jsw_yjd"] = _sorted_by_day(_point_inspections(stream(seed, "jsw_yjd"), w))
    w.sites = _sites(stream(seed, "sites"), w)
    w.tables["jsw_fwz"] = _sorted_by_day(_site_assessments(stream(seed, "jsw_fwz"), w))
    w.tables["jsw_ylfn"] = compact(_wcba_files(stream(seed, "jsw_ylfn"), w))
