"""Row rules of the extract contract, compiled once per file from the source registry.

A row is turned into the raw table's values, the reasons it is bad (each naming the
column and the rule, in plain words), and its warnings. Messages never repeat a delivered
value: they reach logs and the auditor's views (the quarantine keeps the row itself).

The loader validates every delivered row (1.4 million for a district snapshot), so
the registry is read once per file, not once per cell: each column gets one parser
chosen for its kind, and the row rules (`rules.row_rules`) are compiled for the places
of the file's columns. For CSV files the columnar path (`columnar.Vouch`) checks pieces of
the file a column at a time and leaves every row it is not sure of to RowValidator.validate.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import NamedTuple

from include import config
from include.contract import idnumber, registry
from include.contract.registry import Column, Source
from include.errors import InvalidIdNumber
from include.ingest import rules
from include.ingest.cells import cell_text

_YMD = re.compile(r"\d{8}")
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}")
_UINT = re.compile(r"\d+")
_AREA = re.compile(r"\d{12}")
_COUNTY = re.compile(r"\d{6}")

# An optional ID number that is not valid: loaded as empty, with is_valid false.
INVALID_ID = object()

# A valid ID number typed into a free-text column (a remark, an institution's name): masked in
# the raw table, the row kept and warned about. Masked, not quarantined: the column's own rule
# (any text) holds, and the rest of the row is good; only the number must not reach raw.*.
FREE_TEXT_ID = "holds a valid ID number: it is loaded masked (free text must not carry one)"
_ID_18 = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")


def mask_valid_ids(text: str) -> str:
    """`text` with every 18-character number in it that passes GB 11643 (its check character
    and birth date) replaced by the mask; other digits stay (a 15-digit number has no check)."""
    def masked(m: re.Match) -> str:
        try:
            idnumber.parse(m[0])
        except InvalidIdNumber:
            return m[0]
        return idnumber.MASK
    return _ID_18.sub(masked, text) if len(text) >= 18 else text


def unfit_text(text: str) -> str | None:
    """Why a cell's text cannot be any value of the contract, or None: a NUL character, which no
    text in PostgreSQL may hold, or more characters than any value has."""
    if "\x00" in text:
        return "the value holds a NUL character (0x00)"
    if len(text) > config.MAX_CELL_CHARS:
        return f"the value is {len(text):,} characters long, more than the {config.MAX_CELL_CHARS:,} any value may have"
    return None


@dataclass(slots=True)
class RowOutcome:
    values: list  # the raw table's values, in registry.raw_columns order (without _file_id, _row_number)
    reasons: list[str] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (column header, message)
    key: str = ""
    content: str = ""  # the contract's cells, stripped, joined: identical rows have identical content
    key_parts: list[str] = field(default_factory=list)  # the key's parts, as joined in `key`


# Excel's calendar has a 29 February 1900 (serial 60, kept from Lotus 1-2-3): serials 59 and 60
# both read as 1900-02-28, so no date cell before 1 March 1900 can be told for sure.
EXCEL_FIRST_SURE_DATE = date(1900, 3, 1)
EXCEL_EARLY_DATE = ("the Excel date lies before 1900-03-01, where Excel counts a 29 February 1900 "
                    "that never was: it is not a date that can be told")

# (the cell as read, its stripped non-empty text) -> the typed value; ValueError says why not
Parser = Callable[[object, str], object]
# (texts, typed values, the outcome so far) -> adds reasons or warnings
RowCheck = Callable[[list[str], list[object], RowOutcome], None]


class Cell(NamedTuple):
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
        self.index = {col.name: i for i, col in enumerate(src.columns)}
        self.cells = [Cell(col, positions[col.name], self._parser(col)) for col in src.columns]
        self._rules = self._row_rules()
        self._outputs = [(i, col.kind, col.required) for i, col in enumerate(src.columns)
                         if col.kind != registry.PERSON_NAME]
        self._key = [(self.index[k], src.column(k).kind == registry.ID_NUMBER) for k in src.key]

    # ---- per row -----------------------------------------------------------------------

    def validate(self, cells: list[object]) -> RowOutcome:
        """`cells` as read (CSV: strings; XLSX: typed cells)."""
        out = RowOutcome(values=[])
        texts: list[str] = []
        typed: list[object] = []  # a value, a ParsedId, INVALID_ID, or None (empty or bad)
        for col, position, parse in self.cells:
            raw = cells[position]
            text = (raw if raw.__class__ is str else cell_text(raw)).strip()  # CSV cells are str: no call
            texts.append(text)
            value: object = None
            if not text:
                if col.required:
                    out.reasons.append(f"{col.header}: a required value is empty")
            elif (unfit := unfit_text(text)) is not None:
                out.reasons.append(f"{col.header}: {unfit}")
            elif parse is None:
                value = text
                if col.kind == registry.TEXT and (masked := mask_valid_ids(text)) != text:
                    out.warnings.append((col.header, FREE_TEXT_ID))
                    value = masked
            else:
                try:
                    value = parse(raw, text)
                except InvalidIdNumber as exc:
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
        out.key_parts = [typed[i].canonical if is_id and typed[i].__class__ is idnumber.ParsedId else texts[i]
                         for i, is_id in self._key]
        out.key = "\x1f".join(out.key_parts)
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
        """The row's key for warnings and logs, with ID numbers replaced by their pseudonym (and
        any typed into a text column masked)."""
        parts = key.split("\x1f")
        return " / ".join(
            self.pseudonymize(part) if self.src.column(name).kind == registry.ID_NUMBER else mask_valid_ids(part)
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

    def _row_rules(self) -> list[RowCheck]:
        at = self.index
        return [ROW_CHECKS[rule.kind](rule, at, self.src, self.as_of) for rule in rules.row_rules(self.src)]


# ---- parsers -------------------------------------------------------------------------------


def _enum_parser(col: Column) -> Parser:
    allowed = frozenset(col.values)
    shown = " / ".join(col.values)

    def parse(raw: object, text: str) -> str:
        if text not in allowed:
            raise ValueError(f"the value is not one of {shown}")
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
            cell = raw.date() if isinstance(raw, datetime) else raw
            if cell < EXCEL_FIRST_SURE_DATE:
                raise ValueError(EXCEL_EARLY_DATE)
            return cell
        if (known_date := known.get(text)) is not None:
            return known_date
        if not pattern.fullmatch(text):
            raise ValueError(f"the value is not a date written {shown}")
        try:
            parsed = _real_date(text, fmt)
        except ValueError:
            raise ValueError("the value is not a real date") from None
        if len(known) < config.KNOWN_TEXTS:
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
            raise ValueError("the value is not a whole number")
        number = int(text)
        if not (lo <= number <= hi):
            raise ValueError(f"the value lies outside {lo:g}..{hi:g}")
        return number
    return parse


def _decimal_parser(col: Column) -> Parser:
    lo, hi, places = col.minimum, col.maximum, col.max_decimals
    form = re.compile(rf"\d+(\.\d{{1,{places}}})?")

    def parse(raw: object, text: str) -> Decimal:
        if not form.fullmatch(text):
            raise ValueError(f"the value is not a number with at most {places} decimal")
        number = Decimal(text)
        if not (lo <= number <= hi):
            raise ValueError(f"the value lies outside {lo:g}..{hi:g}")
        return number
    return parse


def _area_parser(col: Column, towns: frozenset[str]) -> Parser:
    rule = col.district_rule

    def parse(raw: object, text: str) -> str:
        if not _AREA.fullmatch(text):
            raise ValueError("the value is not a 12-digit area code")
        inside = text.startswith(registry.DISTRICT_CODE)
        checked = rule == registry.IN_DISTRICT or (rule == registry.DISTRICT_IF_INSIDE and inside)
        if checked and text[:9] not in towns:
            where = "are not a town-level unit of the district" if inside else "are not in the district"
            raise ValueError(f"its first 9 digits {where} ({registry.DISTRICT_CODE})")
        return text
    return parse


def _regex_parser(form: re.Pattern, says: str) -> Parser:
    def parse(raw: object, text: str) -> str:
        if not form.fullmatch(text):
            raise ValueError(f"the value {says}")
        return text
    return parse


# ---- row rules: one implementation per rules.RuleKind, compiled for the columns' places -----


def _required_when(rule: rules.RowRule, at: dict[str, int], src: Source, as_of: date) -> RowCheck:
    i, other, values = at[rule.column], at[rule.other], rule.values
    header, other_header = src.column(rule.column).header, src.column(rule.other).header

    def check(texts: list[str], typed: list[object], out: RowOutcome) -> None:
        if not texts[i] and texts[other] in values:
            out.reasons.append(f"{header}: must be given when {other_header} is {texts[other]}")
    return check


def _not_after(rule: rules.RowRule, at: dict[str, int], src: Source, as_of: date) -> RowCheck:
    i, header = at[rule.column], src.column(rule.column).header

    def check(texts: list[str], typed: list[object], out: RowOutcome) -> None:
        event = typed[i]
        if isinstance(event, date) and event > as_of:
            out.reasons.append(f"{header}: the date lies after the file's as-of date {as_of}")
    return check


def _same_birth_date(rule: rules.RowRule, at: dict[str, int], src: Source, as_of: date) -> RowCheck:
    i, other = at[rule.column], at[rule.other]
    header, other_header = src.column(rule.column).header, src.column(rule.other).header

    def check(texts: list[str], typed: list[object], out: RowOutcome) -> None:
        pid, born = typed[i], typed[other]
        if pid.__class__ is idnumber.ParsedId and isinstance(born, date) and born != pid.birth_date:
            out.warnings.append((header, f"the ID number's birth date disagrees with {other_header}"))
    return check


def _same_sex(rule: rules.RowRule, at: dict[str, int], src: Source, as_of: date) -> RowCheck:
    i, other = at[rule.column], at[rule.other]
    header, other_header = src.column(rule.column).header, src.column(rule.other).header

    def check(texts: list[str], typed: list[object], out: RowOutcome) -> None:
        pid, sex = typed[i], rules.SEX_OF_CODE.get(texts[other])
        if pid.__class__ is idnumber.ParsedId and sex is not None and sex != pid.sex:
            out.warnings.append((header, f"the ID number's sex disagrees with {other_header}"))
    return check


ROW_CHECKS = {
    rules.RuleKind.REQUIRED_WHEN: _required_when,
    rules.RuleKind.NOT_AFTER_AS_OF: _not_after,
    rules.RuleKind.SAME_BIRTH_DATE: _same_birth_date,
    rules.RuleKind.SAME_SEX: _same_sex,
}
