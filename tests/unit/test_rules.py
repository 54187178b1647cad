"""The rule table: every rule between columns is declared once (from the registry) and both
validators, the row validator and the columnar path, implement every kind of it."""

from __future__ import annotations

from datetime import date

import numpy as np

from include.contract import idnumber, registry
from include.ingest import bytefields, columnar, rules
from include.ingest.pseudonym import Pseudonymizer
from include.ingest.validate import ROW_CHECKS, RowValidator


def test_both_validators_implement_every_kind_of_rule():
    assert set(ROW_CHECKS) == set(rules.RuleKind) == set(columnar.RULE_CHECKS)


def test_the_table_holds_the_contracts_rules_in_the_order_they_report():
    rule, kind = rules.RowRule, rules.RuleKind
    # 变动日期 must be given for 迁出 / 死亡; the ID number's birth date and sex against 出生日期, 性别
    assert rules.row_rules(registry.source("gaj_hjrk")) == (
        rule(kind.REQUIRED_WHEN, "status_changed_on", "registration_status", ("迁出", "死亡")),
        rule(kind.SAME_BIRTH_DATE, "id_number", "birth_date"),
        rule(kind.SAME_SEX, "id_number", "sex"),
    )
    # 婚育证明编号 may be empty only when 查验结果 is 无证; no check after the file's as-of date
    assert rules.row_rules(registry.source("jsw_hyzm")) == (
        rule(kind.REQUIRED_WHEN, "certificate_no", "check_result", ("有效", "过期")),
        rule(kind.NOT_AFTER_AS_OF, "checked_on"),
    )


def _birth_row(src: registry.Source, **values: str) -> list[str]:
    mother = idnumber.make("310112", date(1994, 5, 6), 124)
    good = {"certificate_no": "A000000001", "newborn_sex": "男", "birth_date": "2026-01-10",
            "gestation_weeks": "39", "birth_weight_g": "3300", "birth_order": "1", "mother_id": mother,
            "mother_name": "王芳", "father_id": "", "mother_population_type": "户籍",
            "mother_area_code": "310112101001", "delivery_hospital": "闵行区妇幼保健院"} | values
    return [good.get(col.name, "") for col in src.columns]


def test_a_row_breaking_a_rule_is_left_by_the_columnar_path_and_explained_by_the_validator():
    src = registry.source("wsj_csyxzm")
    kinds = {r.kind for r in rules.row_rules(src)}
    assert rules.RuleKind.NOT_AFTER_AS_OF in kinds
    validator = RowValidator(src, {c.name: i for i, c in enumerate(src.columns)}, date(2026, 1, 31),
                             Pseudonymizer(b"k"))
    good, late = _birth_row(src), _birth_row(src, birth_date="2026-02-03")
    pseudonymizer = Pseudonymizer(b"k")
    vouch = columnar.Vouch(validator, pseudonymizer.hex_rows)
    checked = vouch.check(bytefields.from_cells([good, late], [2, 3], len(src.columns)))
    assert np.flatnonzero(~checked.ok).tolist() == [1]
    assert validator.validate(good).reasons == []
    assert validator.validate(late).reasons == ["出生日期: the date lies after the file's as-of date 2026-01-31"]
