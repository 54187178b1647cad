"""The rules between the columns of a row, declared once from the source registry.

A column's own rules (required or not, the form of its kind) come with the column. These
are the rules that relate two columns of a row, or a column and the file's as-of date. Both
validators are compiled from this one table: the row validator (`validate`), which says what
is wrong, and the columnar path (`columnar`), which only vouches for rows; each has one
implementation per `RuleKind`, and a unit test checks that neither lacks one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from include.contract import registry

# The sex a sex column's code or text names (the ID number's sex is compared with it)
SEX_OF_CODE = {"1": "M", "2": "F", "男": "M", "女": "F"}


class RuleKind(StrEnum):
    REQUIRED_WHEN = "required_when"  # bad row: `column` is empty while `other` holds one of `values`
    NOT_AFTER_AS_OF = "not_after_as_of"  # bad row: the event date `column` lies after the file's as-of date
    SAME_BIRTH_DATE = "same_birth_date"  # warning: the ID number `column` encodes another birth date than `other`
    SAME_SEX = "same_sex"  # warning: the ID number `column` encodes another sex than `other`


@dataclass(frozen=True)
class RowRule:
    kind: RuleKind
    column: str  # the warehouse column the rule reports on
    other: str | None = None  # the column it is compared with
    values: tuple[str, ...] = ()  # REQUIRED_WHEN: the values of `other` that require `column`


def row_rules(src: registry.Source) -> tuple[RowRule, ...]:
    """The source's row rules, in the order their reasons and warnings are reported."""
    rules = [RowRule(RuleKind.REQUIRED_WHEN, col.name, col.required_when[0], tuple(col.required_when[1]))
             for col in src.columns if col.required_when]
    if src.event_date:
        rules.append(RowRule(RuleKind.NOT_AFTER_AS_OF, src.event_date))
    for col in src.columns:
        if col.kind != registry.ID_NUMBER:
            continue
        if col.birth_date_column:
            rules.append(RowRule(RuleKind.SAME_BIRTH_DATE, col.name, col.birth_date_column))
        if col.sex_column:
            rules.append(RowRule(RuleKind.SAME_SEX, col.name, col.sex_column))
    return tuple(rules)
