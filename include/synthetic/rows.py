"""Rows per source, from the world: which rows a file holds on its as-of date, and their cells.

Each renderer turns table rows into the source's columns (warehouse names) as plain
values: day numbers for dates, integers for codes; to_cells() then writes them the way the
registry says the source does.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from include.contract import registry as reg
from include.synthetic.dates import format_dates
from include.synthetic.vocabulary import CONTRACEPTION, HOSPITALS, MARRIAGE_OFFICES, POINT_TYPES
from include.synthetic.world import NEWBORN, NONE, REGISTERED, World, subset

_SEX_CODE = np.array(["2", "1"], dtype=object)  # indexed by `male`
_SEX_TEXT = np.array(["女", "男"], dtype=object)
_TWO_DIGITS = np.array([f"{i:02d}" for i in range(100)], dtype=object)
_MARITAL_TEXT = np.array(["未婚"] * 100, dtype=object)
_MARITAL_TEXT[[20, 21, 22, 23, 90]] = "已婚"
_MARITAL_TEXT[30], _MARITAL_TEXT[40] = "丧偶", "离婚"
_HUKOU = np.array(reg.HUKOU_TYPE, dtype=object)
_YES_NO = np.array(["是", "否"], dtype=object)  # indexed by "failed"


def _person_ids(w: World, persons: np.ndarray, source: str) -> np.ndarray:
    out = np.full(len(persons), "", dtype=object)
    known = persons >= 0
    out[known] = w.id_text(persons[known], source)
    return out


def _institutions(w: World, district: str, suffix: str) -> np.ndarray:
    return np.array([t.name + suffix for t in w.towns] + [district], dtype=object)


def _rows_gaj_hjrk(w: World, persons: np.ndarray, as_of: int) -> dict:
    p = w.p
    out = p["hj_out"][persons]
    gone = (out != NONE) & (out <= as_of)
    return {
        "id_number": w.id_text(persons, "gaj_hjrk"),
        "full_name": w.name_text(persons),
        "sex": _SEX_CODE[p["male"][persons].astype(int)],
        "birth_date": p["born"][persons],
        "ethnicity": _TWO_DIGITS[p["ethnicity"][persons]],
        "marital_status": _TWO_DIGITS[w.marital_at(persons, as_of)],
        "registered_area_code": p["area"][persons],
        "registration_status":
            np.array(["正常", "迁出", "死亡"], dtype=object)[np.where(gone, p["hj_out_kind"][persons], 0)],
        "status_changed_on": np.where(gone, out, p["hj_in"][persons]),
    }


def _rows_rkb_ldrk(w: World, rows: np.ndarray, as_of: int) -> dict:
    f, p = w.flo, w.p
    persons = f["person"][rows]
    dereg = f["dereg_day"][rows]
    return {
        "id_number": w.id_text(persons, "rkb_ldrk"),
        "full_name": w.name_text(persons),
        "sex": _SEX_CODE[p["male"][persons].astype(int)],
        "birth_date": p["born"][persons],
        "hukou_county_code": f["hukou"][rows],
        "residence_area_code": f["area"][rows],
        "marital_status": _TWO_DIGITS[w.marital_at(persons, as_of)],
        "registered_on": f["reg_day"][rows],
        "deregistered_on": np.where(dereg <= as_of, dereg, NONE),
    }


def _rows_wsj_csyxzm(w: World, rows: np.ndarray, as_of: int) -> dict:
    b = subset(w.tables["wsj_csyxzm"], rows)
    return {
        "certificate_no": b["cert"], "newborn_sex": _SEX_TEXT[b["male"].astype(int)], "birth_date": b["day"],
        "gestation_weeks": b["weeks"], "birth_weight_g": b["weight"], "birth_order": b["order"],
        "mother_id": _person_ids(w, b["mother"], "wsj_csyxzm"), "mother_name": w.name_text(b["mother"]),
        "father_id": _person_ids(w, b["father"], "wsj_csyxzm"), "mother_population_type": _HUKOU[b["mtype"]],
        "mother_area_code": b["area"], "delivery_hospital": np.array(HOSPITALS, dtype=object)[b["hospital"]],
    }


def _rows_wsj_yqjc(w: World, rows: np.ndarray, as_of: int) -> dict:
    t = subset(w.tables["wsj_yqjc"], rows)
    return {
        "woman_id": _person_ids(w, t["woman"], "wsj_yqjc"), "man_id": _person_ids(w, t["man"], "wsj_yqjc"),
        "examined_on": t["day"],
        "institution": _institutions(w, "闵行区妇幼保健院", "社区卫生服务中心")[t["institution"]],
        "risk_assessment": np.array(["低风险", "高风险"], dtype=object)[t["risk"]],
    }


def _rows_wsj_hqjc(w: World, rows: np.ndarray, as_of: int) -> dict:
    t = subset(w.tables["wsj_hqjc"], rows)
    return {
        "person_id": _person_ids(w, t["person"], "wsj_hqjc"), "sex": _SEX_TEXT[w.p["male"][t["person"]].astype(int)],
        "examined_on": t["day"],
        "institution": _institutions(w, "闵行区婚前保健服务中心", "社区卫生服务中心")[t["institution"]],
    }


def _rows_wsj_xsesc(w: World, rows: np.ndarray, as_of: int) -> dict:
    t = subset(w.tables["wsj_xsesc"], rows)
    return {"certificate_no": t["cert"], "sampled_on": t["day"],
            "screening_result": np.array(["阴性", "阳性", "待复查"], dtype=object)[t["result"]]}


def _rows_mzj_hydj(w: World, rows: np.ndarray, as_of: int) -> dict:
    t = subset(w.tables["mzj_hydj"], rows)
    return {
        "registration_no": t["no"], "registered_on": t["day"],
        "registration_type": np.array(["结婚", "离婚", "补发"], dtype=object)[t["type"]],
        "husband_id": _person_ids(w, t["husband"], "mzj_hydj"), "wife_id": _person_ids(w, t["wife"], "mzj_hydj"),
        "registry_office": np.array(MARRIAGE_OFFICES, dtype=object)[t["office"]],
    }


def _rows_jsw_ylfn(w: World, rows: np.ndarray, as_of: int) -> dict:
    t = subset(w.tables["jsw_ylfn"], rows)
    b = w.tables["wsj_csyxzm"]
    persons = t["person"]
    born_since = np.bincount(b["mother"][b["day"] <= as_of], minlength=len(w.p["kind"]))[persons]
    marital = _MARITAL_TEXT[w.marital_at(persons, as_of)]
    wrong = t["error"] == 2
    texts = list(reg.MARITAL_TEXT)
    shifts = zip(marital[wrong], t["marital_shift"][wrong], strict=True)
    marital[wrong] = [texts[(texts.index(m) + k) % 4] for m, k in shifts]
    return {
        "id_number": w.id_text(persons, "jsw_ylfn"), "full_name": w.name_text(persons), "birth_date": t["born"],
        "population_type": _HUKOU[t["ptype"]], "residence_area_code": t["area"], "marital_status": marital,
        "children_count": np.minimum(t["children0"] + born_since, 9),
        "contraception": np.array(CONTRACEPTION, dtype=object)[t["contraception"]],
        "filed_on": t["filed"], "last_collected_on": t["filed"] + (as_of - t["filed"]) // t["period"] * t["period"],
        # The commission's birth date disagrees with the ID number: a row warning by design.
        "_warning": np.where(t["error"] == 1, "id_birth_mismatch", ""),
    }


def _rows_jsw_hyzm(w: World, rows: np.ndarray, as_of: int) -> dict:
    t = subset(w.tables["jsw_hyzm"], rows)
    return {
        "woman_id": _person_ids(w, t["woman"], "jsw_hyzm"),
        "certificate_no": np.array([f"{c}-{y}-{i:06d}" if c != NONE else "" for c, y, i in
                                    zip(t["county"].tolist(), t["cert_year"].tolist(), rows.tolist(), strict=True)],
                                   dtype=object),
        "issuer_county_code": t["county"], "checked_on": t["day"],
        "check_result": np.array(["有效", "过期", "无证"], dtype=object)[t["result"]], "checking_area_code": t["area"],
    }


def _rows_jsw_sydj(w: World, rows: np.ndarray, as_of: int) -> dict:
    t = subset(w.tables["jsw_sydj"], rows)
    return {
        "registration_no": t["no"], "woman_id": _person_ids(w, t["woman"], "jsw_sydj"),
        "man_id": _person_ids(w, t["man"], "jsw_sydj"),
        "registration_type": np.where(t["approved"] <= 2, "生育服务登记", "再生育审批").astype(object),
        "approved_birth_order": t["approved"], "registered_on": t["day"], "valid_until": t["valid"],
        "registering_area_code": t["area"],
    }


def _rows_jsw_yjd(w: World, rows: np.ndarray, as_of: int) -> dict:
    t = subset(w.tables["jsw_yjd"], rows)
    pts = subset(w.points, t["point"])
    items = ("signage_ok", "ledger_ok", "range_ok", "expiry_ok", "dispenser_ok")
    return {
        "point_no": pts["no"], "point_name": pts["name"],
        "point_type": np.array(POINT_TYPES, dtype=object)[pts["kind"]],
        "credit_code": pts["code"], "area_code": pts["area"], "inspected_on": t["day"],
        **{name: _YES_NO[t["items"][:, i].astype(int)] for i, name in enumerate(items)},
    }


def _rows_jsw_fwz(w: World, rows: np.ndarray, as_of: int) -> dict:
    t = subset(w.tables["jsw_fwz"], rows)
    s = subset(w.sites, t["site"])
    return {
        "site_no": s["no"], "site_name": s["name"],
        "site_level": np.array(["镇级综合服务站", "村居家庭计划指导室"], dtype=object)[s["level"]],
        "area_code": s["area"], "assessed_on": t["day"], "score": t["score"],
        "is_compliant": _YES_NO[(t["score"] < 80).astype(int)],
    }


def _rows_jyj_zjpx(w: World, rows: np.ndarray, as_of: int) -> dict:
    t = subset(w.tables["jyj_zjpx"], rows)
    return {
        "session_no": np.array(["ZJ" + x for x in t["session"].astype(str).tolist()], dtype=object),
        "trained_on": t["day"],
        "provider": _institutions(w, "闵行区早期教育指导中心", "早教指导站")[t["provider"]],
        "child_certificate_no": t["cert"], "attendee_id": _person_ids(w, t["attendee"], "jyj_zjpx"),
        "attendee_relation": np.array(["母亲", "父亲", "祖辈", "其他看护人"], dtype=object)[t["rel"]],
        "population_type": _HUKOU[t["mtype"]],
    }


def _rows_gsj_lgqy(w: World, rows: np.ndarray, as_of: int) -> dict:
    h = subset(w.tables["gsj_lgqy"], rows)
    closed = (h["closed"] != NONE) & (h["closed"] <= as_of)
    return {
        "credit_code": h["code"], "business_name": h["name"], "premises_area_code": h["area"],
        "registration_status": np.array(["存续", "注销", "吊销"], dtype=object)[np.where(closed, h["closed_kind"], 0)],
        "founded_on": h["founded"], "status_changed_on": np.where(closed, h["closed"], NONE),
    }


# Snapshot sources: which rows hold on an as-of date. (Event sources: events by date.)
def _select_gaj_hjrk(w: World, as_of: int) -> np.ndarray:
    p = w.p
    registered = (p["kind"] == REGISTERED) | (p["kind"] == NEWBORN)
    return np.flatnonzero(registered & ((p["hj_in"] == NONE) | (p["hj_in"] <= as_of)))


def _select_rkb_ldrk(w: World, as_of: int) -> np.ndarray:
    return np.flatnonzero(w.flo["reg_day"] <= as_of)


def _select_jsw_ylfn(w: World, as_of: int) -> np.ndarray:
    t = w.tables["jsw_ylfn"]
    return np.flatnonzero((t["filed"] <= as_of) & ((t["removed"] == NONE) | (t["removed"] > as_of))
                          & (t["b15"] <= as_of) & (t["b50"] > as_of))


def _select_gsj_lgqy(w: World, as_of: int) -> np.ndarray:
    return np.flatnonzero(w.tables["gsj_lgqy"]["founded"] <= as_of)


ROWS: dict[str, Callable[[World, np.ndarray, int], dict]] = {
    "gaj_hjrk": _rows_gaj_hjrk, "rkb_ldrk": _rows_rkb_ldrk, "wsj_csyxzm": _rows_wsj_csyxzm,
    "wsj_yqjc": _rows_wsj_yqjc, "wsj_hqjc": _rows_wsj_hqjc, "wsj_xsesc": _rows_wsj_xsesc,
    "mzj_hydj": _rows_mzj_hydj, "jsw_ylfn": _rows_jsw_ylfn, "jsw_hyzm": _rows_jsw_hyzm,
    "jsw_sydj": _rows_jsw_sydj, "jsw_yjd": _rows_jsw_yjd, "jsw_fwz": _rows_jsw_fwz,
    "jyj_zjpx": _rows_jyj_zjpx, "gsj_lgqy": _rows_gsj_lgqy,
}
SNAPSHOT_SELECT: dict[str, Callable[[World, int], np.ndarray]] = {
    "gaj_hjrk": _select_gaj_hjrk, "rkb_ldrk": _select_rkb_ldrk,
    "jsw_ylfn": _select_jsw_ylfn, "gsj_lgqy": _select_gsj_lgqy,
}
assert set(ROWS) == set(reg.SOURCES_BY_CODE), "a source without a renderer"
assert set(SNAPSHOT_SELECT) == {c for c, s in reg.SOURCES_BY_CODE.items() if s.kind == "snapshot"}


def select_events(w: World, code: str, as_of: int, since: int | None) -> np.ndarray:
    day = w.tables[code]["day"]
    lo = 0 if since is None else int(np.searchsorted(day, since, side="right"))
    return np.arange(lo, int(np.searchsorted(day, as_of, side="right")))


def _number_text(v: np.ndarray) -> list[str]:
    """Integers as text, negative ones (NONE) empty; via the distinct values, since codes
    and counts repeat a lot and converting each one is slow."""
    distinct, inverse = np.unique(v, return_inverse=True)
    return np.array([str(x) if x >= 0 else "" for x in distinct.tolist()], dtype=object)[inverse].tolist()


def to_cells(src: reg.Source, values: dict, xlsx: bool) -> dict[str, list]:
    """Plain values -> cells as the source writes them (dates in its format, codes as text)."""
    out: dict[str, list] = {}
    for col in src.columns:
        v = values[col.name]
        if col.kind == reg.DATE:
            out[col.name] = format_dates(np.asarray(v), col.date_format)
        elif col.kind == reg.DECIMAL:
            out[col.name] = [float(x) for x in v] if xlsx else [f"{x:.1f}" for x in v]
        elif isinstance(v, np.ndarray) and v.dtype.kind in "iu":
            out[col.name] = _number_text(v)
        else:
            out[col.name] = list(v) if not isinstance(v, np.ndarray) else v.tolist()
    if "_warning" in values:
        out["_warning"] = values["_warning"].tolist()
    return out


# A chunk: a file's rows as cells, one list per column.


def row_count(chunk: dict[str, list]) -> int:
    return len(next(iter(chunk.values()))) if chunk else 0
