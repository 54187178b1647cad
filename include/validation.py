"""Row rules of the extract contract, compiled once per file from the source registry.

A row is turned into the raw table's values, the reasons it is bad (each naming the
column and the rule, in plain words), and its warnings. Messages never repeat an ID
number or a name.

The loader validates every delivered row (1.4 million for a district snapshot), so
the registry is read once per file, not once per cell: each column gets one parser
chosen for its kind, and only the row rules the source has are kept. For CSV files a
fast path (FastPath, at the end) checks batches of rows a column at a time and leaves
every row it is not sure of to RowValidator.validate.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from itertools import compress, count, repeat
from operator import is_, ne
from typing import NamedTuple

from include import copytext, idnumber, registry
from include.registry import Column, Source

_YMD = re.compile(r"\d{8}")
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}")
_UINT = re.compile(r"\d+")
_AREA = re.compile(r"\d{12}")
_COUNTY = re.compile(r"\d{6}")
_SEX_OF_CODE = {"1": "M", "2": "F", "男": "M", "女": "F"}

# Distinct texts remembered per column (dates, codes): values repeat (a century is 36,525
# days), and the bound keeps memory flat on a file full of odd or unique texts.
KNOWN_TEXTS = 1 << 16

# An optional ID number that is not valid: loaded as empty, with is_valid false.
INVALID_ID = object()


def cell_text(value: object) -> str:
    """A cell as text, the way it was delivered (xlsx cells come typed)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


@dataclass(slots=True)
class RowOutcome:
    values: list  # the raw table's values, in registry.raw_columns order (without _file_id, _row_number)
    reasons: list[str] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (column header, message)
    key: str = ""
    content: str = ""  # the contract's cells, stripped, joined: identical rows have identical content
    fields: str | None = None  # the values as COPY text fields, tab-joined, when the fast path made them


# (the cell as read, its stripped non-empty text) -> the typed value; ValueError says why not
Parser = Callable[[object, str], object]
# (texts, typed values, the outcome so far) -> adds reasons or warnings
RowRule = Callable[[list[str], list[object], RowOutcome], None]


class _Cell(NamedTuple):
    col: Column
    position: int  # where the column sits in the delivered row
    parse: Parser | None  # None: any non-empty text is the value (TEXT, PERSON_NAME)


class RowValidator:
    """Validates rows of one file of one source, given where each column sits in the file."""

    def __init__(self, src: Source, positions: dict[str, int], as_of: date, pseudonymize):
        self.src = src
        self.positions = positions  # warehouse column name -> index in the row
        self.as_of = as_of
        self.pseudonymize = pseudonymize
        self.towns = frozenset(registry.town_units())
        self.key_columns = src.key
        # Everything below is indexed like src.columns: per row, texts and typed values are lists.
        self._index = {col.name: i for i, col in enumerate(src.columns)}
        self._cells = [_Cell(col, positions[col.name], self._parser(col)) for col in src.columns]
        self._rules = self._row_rules()
        self._outputs = [(i, col.kind, col.required) for i, col in enumerate(src.columns)
                         if col.kind != registry.PERSON_NAME]
        self._key = [(self._index[k], src.column(k).kind == registry.ID_NUMBER) for k in src.key]

    # ---- per row -----------------------------------------------------------------------

    def validate(self, cells: list[object]) -> RowOutcome:
        """`cells` as read (CSV: strings; XLSX: typed cells)."""
        out = RowOutcome(values=[])
        texts: list[str] = []
        typed: list[object] = []  # a value, a ParsedId, INVALID_ID, or None (empty or bad)
        for col, position, parse in self._cells:
            raw = cells[position]
            text = (raw if raw.__class__ is str else cell_text(raw)).strip()  # CSV cells are str: no call
            texts.append(text)
            value: object = None
            if not text:
                if col.required:
                    out.reasons.append(f"{col.header}: a required value is empty")
            elif parse is None:
                value = text
            else:
                try:
                    value = parse(raw, text)
                except idnumber.InvalidIdNumber as exc:
                    if col.required:
                        out.reasons.append(f"{col.header}: not a valid ID number, {exc}")
                    else:
                        out.warnings.append((col.header, f"optional ID number is invalid ({exc}); treated as empty"))
                        value = INVALID_ID
                except ValueError as exc:
                    out.reasons.append(f"{col.header}: {exc}")
            typed.append(value)

        for rule in self._rules:
            rule(texts, typed, out)
        out.values = self._raw_values(typed)
        out.key = "\x1f".join([typed[i].canonical if is_id and typed[i].__class__ is idnumber.ParsedId else texts[i]
                               for i, is_id in self._key])
        out.content = "\x1f".join(texts)
        return out

    def _raw_values(self, typed: list[object]) -> list:
        values: list = []
        for i, kind, required in self._outputs:
            value = typed[i]
            if kind != registry.ID_NUMBER:
                values.append(value)
                continue
            if value.__class__ is idnumber.ParsedId:
                values += (self.pseudonymize(value.canonical), value.birth_date, value.sex)
            else:
                values += (None, None, None)
            if not required:  # is_valid: empty is unknown, an invalid number is false
                values.append(None if value is None else value is not INVALID_ID)
        return values

    def pseudonymous_key(self, key: str) -> str:
        """The row's key for warnings and logs, with ID numbers replaced by their pseudonym."""
        parts = key.split("\x1f")
        return " / ".join(
            self.pseudonymize(part) if self.src.column(name).kind == registry.ID_NUMBER else part
            for name, part in zip(self.key_columns, parts)
        )

    # ---- compiled once per file: a parser per column -----------------------------------

    def _parser(self, col: Column) -> Parser | None:
        kind = col.kind
        if kind == registry.ID_NUMBER:
            return lambda raw, text: idnumber.parse(text)
        if kind == registry.ENUM:
            return _enum_parser(col)
        if kind == registry.DATE:
            return _date_parser(col)
        if kind == registry.INTEGER:
            return _integer_parser(col)
        if kind == registry.DECIMAL:
            return _decimal_parser(col)
        if kind == registry.AREA_CODE:
            return _area_parser(col, self.towns)
        if kind == registry.COUNTY_CODE:
            return _regex_parser(_COUNTY, "is not a 6-digit county code")
        if kind == registry.PATTERN:
            return _regex_parser(re.compile(col.pattern), f"does not have the required form ({col.pattern})")
        return None  # TEXT, PERSON_NAME: any non-empty value

    # ---- compiled once per file: the row rules this source has, in the order they report ----

    def _row_rules(self) -> list[RowRule]:
        src, index = self.src, self._index
        rules: list[RowRule] = []
        for col in src.columns:
            if col.required_when:
                other, values = col.required_when
                rules.append(_required_when(index[col.name], col.header, index[other], src.column(other).header,
                                            values))
        if src.event_date:
            rules.append(_not_after(index[src.event_date], src.column(src.event_date).header, self.as_of))
        for col in src.columns:
            if col.kind != registry.ID_NUMBER:
                continue
            if col.birth_date_column:
                rules.append(_same_birth_date(index[col.name], col.header, index[col.birth_date_column],
                                              src.column(col.birth_date_column).header))
            if col.sex_column:
                rules.append(_same_sex(index[col.name], col.header, index[col.sex_column],
                                       src.column(col.sex_column).header))
        return rules


# ---- parsers -------------------------------------------------------------------------------


def _enum_parser(col: Column) -> Parser:
    allowed = frozenset(col.values)
    shown = " / ".join(col.values)

    def parse(raw: object, text: str) -> str:
        if text not in allowed:
            raise ValueError(f"{text!r} is not one of {shown}")
        return text
    return parse


def _date_parser(col: Column) -> Parser:
    if col.date_format == registry.EXCEL:
        fmt, pattern, shown = registry.ISO, _ISO, "an Excel date or YYYY-MM-DD text"
    elif col.date_format == registry.YMD:
        fmt, pattern, shown = registry.YMD, _YMD, "YYYYMMDD"
    else:
        fmt, pattern, shown = registry.ISO, _ISO, "YYYY-MM-DD"
    excel = col.date_format == registry.EXCEL
    known: dict[str, date] = {}  # text -> date, for texts already parsed (strptime is slow)

    def parse(raw: object, text: str) -> date:
        if excel and isinstance(raw, date):  # a date cell, not text: its text is not the key
            return raw.date() if isinstance(raw, datetime) else raw
        if (known_date := known.get(text)) is not None:
            return known_date
        if not pattern.fullmatch(text):
            raise ValueError(f"{text!r} is not a date written {shown}")
        try:
            parsed = _real_date(text, fmt)
        except ValueError:
            raise ValueError(f"{text!r} is not a real date") from None
        if len(known) < KNOWN_TEXTS:
            known[text] = parsed
        return parsed
    return parse


def _real_date(text: str, fmt: str) -> date:
    """The date a text of the right form (8 digits, or 4-2-2 with dashes) names; ValueError if none.
    Plain ASCII digits sit where strptime would read them, so they are read directly: strptime
    costs ten times more (for other digits, strptime it is, as it reads them its own way)."""
    if text.isascii():
        digits = text.replace("-", "")
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    return datetime.strptime(text, fmt).date()


def _integer_parser(col: Column) -> Parser:
    lo, hi = col.minimum, col.maximum

    def parse(raw: object, text: str) -> int:
        if not _UINT.fullmatch(text):
            raise ValueError(f"{text!r} is not a whole number")
        number = int(text)
        if not (lo <= number <= hi):
            raise ValueError(f"{text} lies outside {lo:g}..{hi:g}")
        return number
    return parse


def _decimal_parser(col: Column) -> Parser:
    lo, hi, places = col.minimum, col.maximum, col.max_decimals
    form = re.compile(rf"\d+(\.\d{{1,{places}}})?")

    def parse(raw: object, text: str) -> Decimal:
        if not form.fullmatch(text):
            raise ValueError(f"{text!r} is not a number with at most {places} decimal")
        number = Decimal(text)
        if not (lo <= number <= hi):
            raise ValueError(f"{text} lies outside {lo:g}..{hi:g}")
        return number
    return parse


def _area_parser(col: Column, towns: frozenset[str]) -> Parser:
    rule = col.district_rule

    def parse(raw: object, text: str) -> str:
        if not _AREA.fullmatch(text):
            raise ValueError(f"{text!r} is not a 12-digit area code")
        inside = text.startswith(registry.DISTRICT_CODE)
        if rule == registry.IN_DISTRICT or (rule == registry.DISTRICT_IF_INSIDE and inside):
            if text[:9] not in towns:
                where = "are not a town-level unit of the district" if inside else "are not in the district"
                raise ValueError(f"{text!r}: its first 9 digits {where} ({registry.DISTRICT_CODE})")
        return text
    return parse


def _regex_parser(form: re.Pattern, says: str) -> Parser:
    def parse(raw: object, text: str) -> str:
        if not form.fullmatch(text):
            raise ValueError(f"{text!r} {says}")
        return text
    return parse


# ---- row rules ----------------------------------------------------------------------------


def _required_when(i: int, header: str, other: int, other_header: str, values: tuple[str, ...]) -> RowRule:
    def rule(texts: list[str], typed: list[object], out: RowOutcome) -> None:
        if not texts[i] and texts[other] in values:
            out.reasons.append(f"{header}: must be given when {other_header} is {texts[other]}")
    return rule


def _not_after(i: int, header: str, as_of: date) -> RowRule:
    def rule(texts: list[str], typed: list[object], out: RowOutcome) -> None:
        event = typed[i]
        if isinstance(event, date) and event > as_of:
            out.reasons.append(f"{header}: {event} lies after the file's as-of date {as_of}")
    return rule


def _same_birth_date(i: int, header: str, other: int, other_header: str) -> RowRule:
    def rule(texts: list[str], typed: list[object], out: RowOutcome) -> None:
        pid, born = typed[i], typed[other]
        if pid.__class__ is idnumber.ParsedId and isinstance(born, date) and born != pid.birth_date:
            out.warnings.append((header, f"the ID number's birth date disagrees with {other_header}"))
    return rule


def _same_sex(i: int, header: str, other: int, other_header: str) -> RowRule:
    def rule(texts: list[str], typed: list[object], out: RowOutcome) -> None:
        pid, sex = typed[i], _SEX_OF_CODE.get(texts[other])
        if pid.__class__ is idnumber.ParsedId and sex is not None and sex != pid.sex:
            out.warnings.append((header, f"the ID number's sex disagrees with {other_header}"))
    return rule


# ---- the fast path: a batch of CSV rows, a column at a time --------------------------------
#
# Nearly every delivered row is valid. The fast path checks a batch of rows a column at a
# time, in loops that run in C (map over lookups of texts parsed before, list comparisons,
# joins) instead of a Python loop per cell. It only ever vouches for a row: a row it is not
# sure of is left to RowValidator.validate, which alone says what is wrong, so the messages
# have one source. For the rows it vouches for, it gives what validate would: the key, the
# content and the raw values (as COPY text fields).


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
        self.positions = [cell.position for cell in validator._cells]
        self.columns = [_fast_column(cell.col, cell.parse, validator.pseudonymize) for cell in validator._cells]
        index = validator._index
        self.key = [index[k] for k in src.key]
        self.rules = []
        for col in src.columns:
            if col.required_when:
                other, values = col.required_when
                self.rules.append(_fast_required_when(index[col.name], index[other], values))
        if src.event_date:
            self.rules.append(_fast_not_after(index[src.event_date], validator.as_of))
        for col in src.columns:
            if col.kind == registry.ID_NUMBER and col.birth_date_column:
                self.rules.append(_fast_same_birth_date(index[col.name], index[col.birth_date_column]))
            if col.kind == registry.ID_NUMBER and col.sex_column:
                self.rules.append(_fast_same_sex(index[col.name], index[col.sex_column]))

    def check(self, rows: Sequence[list[str]]) -> CheckedBatch:
        """`rows`: CSV rows (cells are str), each as wide as the header."""
        delivered = list(zip(*rows))
        texts = [list(map(str.strip, delivered[p])) for p in self.positions]  # contract order
        unsure: set[int] = set()
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


def _where(flags: Iterable[object]) -> list[int]:
    """The positions of the true flags (a loop in C)."""
    return list(compress(count(), flags))


def _fast_column(col: Column, parse: Parser | None, pseudonymize):
    if col.kind == registry.ID_NUMBER:
        return _FastIds(col, pseudonymize)
    if col.kind == registry.PERSON_NAME:
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
        if len(self.known) < KNOWN_TEXTS:
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
    except idnumber.InvalidIdNumber:
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
                if len(self.iso) < KNOWN_TEXTS:
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


def _fast_required_when(i: int, other: int, values: tuple[str, ...]):
    def rule(texts: list[list[str]], checked: list, unsure: set[int]) -> None:
        if "" in texts[i]:
            unsure.update(r for r, (t, o) in enumerate(zip(texts[i], texts[other])) if not t and o in values)
    return rule


def _fast_not_after(i: int, as_of: date):
    last = as_of.isoformat()  # ISO dates compare as text as they do as dates

    def rule(texts: list[list[str]], checked: list, unsure: set[int]) -> None:
        fields = checked[i]
        if max(fields, default=last) > last:  # a later date, or NULL ("\\N" sorts after digits)
            unsure.update(r for r, f in enumerate(fields) if f > last and f != copytext.NULL)
    return rule


def _fast_same_birth_date(i: int, other: int):
    def rule(texts: list[list[str]], checked: list, unsure: set[int]) -> None:
        from_id, given = checked[i].birth_dates, checked[other]
        if from_id != given:  # a warning, or a NULL on either side: validate decides
            unsure.update(_where(map(ne, from_id, given)))
    return rule


def _fast_same_sex(i: int, other: int):
    def rule(texts: list[list[str]], checked: list, unsure: set[int]) -> None:
        from_id, given = checked[i].sexes, list(map(_SEX_OF_CODE.get, texts[other]))
        if from_id != given:  # a warning, or a code that is not a sex code: validate decides
            unsure.update(_where(map(ne, from_id, given)))
    return rule
