"""The fast path: a batch of CSV rows, checked a column at a time.

Nearly every delivered row is valid. The fast path checks a batch of rows a column at a
time, in loops that run in C (map over lookups of texts parsed before, list comparisons,
joins) instead of a Python loop per cell. It only ever vouches for a row: a row it is not
sure of is left to RowValidator.validate, which alone says what is wrong, so the messages
have one source. For the rows it vouches for, it gives what validate would: the key, the
content and the raw values (as COPY text fields).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from itertools import compress, count, repeat
from operator import is_, ne
from typing import NamedTuple

from include import config
from include.contract import idnumber
from include.contract.registry import ID_NUMBER, PERSON_NAME, TEXT, Column
from include.errors import InvalidIdNumber
from include.ingest import copytext, rules
from include.ingest.validate import Parser, RowValidator, has_valid_id, unfit_text


class CheckedBatch(NamedTuple):
    """Per row of the batch: its key, content and COPY fields (as RowOutcome's key, content and
    fields). `unsure` rows must go through validate: their entries are placeholders."""

    unsure: set[int]
    keys: list[str]
    contents: list[str]
    fields: list[str]


class FastPath:
    """The fast path for one file; built from the file's RowValidator (its parsers and rules)."""

    def __init__(self, validator: RowValidator):
        src = validator.src
        self.positions = [cell.position for cell in validator.cells]
        self.columns = [_fast_column(cell.col, cell.parse, validator.pseudonymize) for cell in validator.cells]
        self.free_text = [cell.col.kind == TEXT for cell in validator.cells]  # scanned for ID numbers
        at = validator.index
        self.key = [at[k] for k in src.key]
        self.rules = [BATCH_CHECKS[rule.kind](rule, at, validator.as_of) for rule in rules.row_rules(src)]

    def check(self, rows: Sequence[list[str]]) -> CheckedBatch:
        """`rows`: CSV rows (cells are str), each as wide as the header."""
        delivered = list(zip(*rows))
        texts = [list(map(str.strip, delivered[p])) for p in self.positions]  # contract order
        unsure: set[int] = set()
        for t, free_text in zip(texts, self.free_text):
            unsure.update(_unfit(t))
            if free_text:
                unsure.update(has_valid_id(t))
        checked = [column.check(t, unsure) for column, t in zip(self.columns, texts)]
        for rule in self.rules:
            rule(texts, checked, unsure)
        parts = [checked[i].canonical if isinstance(checked[i], _Ids) else texts[i] for i in self.key]
        keys = list(parts[0]) if len(parts) == 1 else list(map("\x1f".join, zip(*parts)))
        contents = list(map("\x1f".join, zip(*texts)))
        outputs = [out for column, c in zip(self.columns, checked) for out in column.outputs(c)]
        return CheckedBatch(unsure, keys, contents, list(map("\t".join, zip(*outputs))))


    def keys(self, rows: Sequence[list[str]]) -> list[str]:
        """Each row's key as validate gives it (RowOutcome.key), without checking the rest."""
        delivered = list(zip(*rows))
        parts = []
        for i in self.key:
            texts = list(map(str.strip, delivered[self.positions[i]]))
            column = self.columns[i]
            parts.append(column.canonical(texts) if isinstance(column, _FastIds) else texts)
        return list(parts[0]) if len(parts) == 1 else list(map("\x1f".join, zip(*parts)))


def _unfit(texts: list[str]) -> list[int]:
    """The cells validate must see for a NUL or their length (`unfit_text`): two C loops over
    the column when there are none."""
    if max(map(len, texts), default=0) <= config.MAX_CELL_CHARS and "\x00" not in "".join(texts):
        return []
    return [i for i, text in enumerate(texts) if unfit_text(text) is not None]


def _where(flags: Iterable[object]) -> list[int]:
    """The positions of the true flags (a loop in C)."""
    return list(compress(count(), flags))


def _fast_column(col: Column, parse: Parser | None, pseudonymize):
    if col.kind == ID_NUMBER:
        return _FastIds(col, pseudonymize)
    if col.kind == PERSON_NAME:
        return _FastName(col)
    return _FastValues(col, parse)


class _FastValues:
    """A column of values, as COPY fields: a text the exact parser accepted before is looked
    up (codes, dates and small numbers repeat), any other is parsed (and remembered)."""

    def __init__(self, col: Column, parse: Parser | None):
        self.parse = parse
        self.required = col.required
        self.known: dict[str, str] = {} if col.required else {"": copytext.NULL}

    def check(self, texts: list[str], unsure: set[int]) -> list[str]:
        fields = list(map(self.known.get, texts))
        if None in fields:  # texts not seen yet, or bad
            for i in _where(map(is_, fields, repeat(None))):
                fields[i] = self._parse(texts[i], i, unsure)
        return fields

    def _parse(self, text: str, i: int, unsure: set[int]) -> str:
        # required, so validate says it is missing; or with a NUL, which COPY refuses only if the
        # row is written (it may yet be a duplicate): the row-by-row path does it all in order
        if not text or "\x00" in text:
            unsure.add(i)
            return copytext.NULL
        try:
            value = text if self.parse is None else self.parse(text, text)
        except ValueError:  # bad: validate says why
            unsure.add(i)
            return copytext.NULL
        field = copytext.field(value)
        if len(self.known) < config.KNOWN_TEXTS:
            self.known[text] = field
        return field

    def outputs(self, fields: list[str]) -> list[list[str]]:
        return [fields]


class _FastName:
    """A person's name: required, never loaded."""

    def __init__(self, col: Column):
        self.required = col.required

    def check(self, texts: list[str], unsure: set[int]) -> None:
        if self.required and "" in texts:
            unsure.update(i for i, text in enumerate(texts) if not text)

    def outputs(self, checked: None) -> list[list[str]]:
        return []


class _Ids(NamedTuple):
    canonical: list[str]  # "" where empty (or not valid: an unsure row)
    birth_dates: list[str]  # as COPY fields
    sexes: list[str]  # as COPY fields


_NO_ID = idnumber.ParsedId("", None, None)


def _parse_id(text: str) -> idnumber.ParsedId:
    try:
        return idnumber.parse(text)
    except InvalidIdNumber:
        return _NO_ID


class _FastIds:
    """ID numbers: a column parsed at once where plain, the others one by one; then
    pseudonymized, with birth date and sex."""

    def __init__(self, col: Column, pseudonymize):
        self.required = col.required
        self.pseudonymize = pseudonymize
        self.iso: dict[date, str] = {}  # birth dates repeat, and date.isoformat is slow

    def check(self, texts: list[str], unsure: set[int]) -> _Ids:
        canonical, born, sexes = idnumber.parse_column(texts)
        if None in canonical:  # not plain (or not valid): as parse says, one by one
            for i in _where(map(is_, canonical, repeat(None))):
                parsed = _parse_id(texts[i])
                canonical[i], born[i], sexes[i] = parsed
                if parsed is _NO_ID and (texts[i] or self.required):  # validate says why
                    unsure.add(i)
            sexes = [copytext.NULL if s is None else s for s in sexes]
        return _Ids(canonical, self._iso_dates(born), sexes)

    def _iso_dates(self, dates: list[date | None]) -> list[str]:
        fields = list(map(self.iso.get, dates))
        if None in fields:
            for i in _where(map(is_, fields, repeat(None))):
                if dates[i] is None:
                    fields[i] = copytext.NULL
                    continue
                fields[i] = dates[i].isoformat()
                if len(self.iso) < config.KNOWN_TEXTS:
                    self.iso[dates[i]] = fields[i]
        return fields

    @staticmethod
    def canonical(texts: list[str]) -> list[str]:
        """Each number's canonical form, or its text where it is not valid (as in RowOutcome.key)."""
        canonical = idnumber.parse_column(texts)[0]
        if None in canonical:
            for i in _where(map(is_, canonical, repeat(None))):
                parsed = _parse_id(texts[i])
                canonical[i] = texts[i] if parsed is _NO_ID else parsed.canonical
        return canonical

    def outputs(self, ids: _Ids) -> list[list[str]]:
        pseudonyms = [self.pseudonymize(c) if c else copytext.NULL for c in ids.canonical]
        out = [pseudonyms, ids.birth_dates, ids.sexes]
        if not self.required:  # is_valid: true, or unknown where empty (an invalid one is never vouched for)
            out.append(["t" if c else copytext.NULL for c in ids.canonical])
        return out


# ---- row rules: one implementation per rules.RuleKind; each only marks rows unsure -------


def _fast_required_when(rule: rules.RowRule, at: dict[str, int], as_of: date):
    i, other, values = at[rule.column], at[rule.other], rule.values

    def check(texts: list[list[str]], checked: list, unsure: set[int]) -> None:
        if "" in texts[i]:
            unsure.update(r for r, (t, o) in enumerate(zip(texts[i], texts[other])) if not t and o in values)
    return check


def _fast_not_after(rule: rules.RowRule, at: dict[str, int], as_of: date):
    i, last = at[rule.column], as_of.isoformat()  # ISO dates compare as text as they do as dates

    def check(texts: list[list[str]], checked: list, unsure: set[int]) -> None:
        fields = checked[i]
        if max(fields, default=last) > last:  # a later date, or NULL ("\\N" sorts after digits)
            unsure.update(r for r, f in enumerate(fields) if f > last and f != copytext.NULL)
    return check


def _fast_same_birth_date(rule: rules.RowRule, at: dict[str, int], as_of: date):
    i, other = at[rule.column], at[rule.other]

    def check(texts: list[list[str]], checked: list, unsure: set[int]) -> None:
        from_id, given = checked[i].birth_dates, checked[other]
        if from_id != given:  # a warning, or a NULL on either side: validate decides
            unsure.update(_where(map(ne, from_id, given)))
    return check


def _fast_same_sex(rule: rules.RowRule, at: dict[str, int], as_of: date):
    i, other = at[rule.column], at[rule.other]

    def check(texts: list[list[str]], checked: list, unsure: set[int]) -> None:
        from_id, given = checked[i].sexes, list(map(rules.SEX_OF_CODE.get, texts[other]))
        if from_id != given:  # a warning, or a code that is not a sex code: validate decides
            unsure.update(_where(map(ne, from_id, given)))
    return check


BATCH_CHECKS = {
    rules.RuleKind.REQUIRED_WHEN: _fast_required_when,
    rules.RuleKind.NOT_AFTER_AS_OF: _fast_not_after,
    rules.RuleKind.SAME_BIRTH_DATE: _fast_same_birth_date,
    rules.RuleKind.SAME_SEX: _fast_same_sex,
}
