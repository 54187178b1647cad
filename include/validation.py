"""Row rules of the extract contract, compiled once per file from the source registry.

A row is turned into the raw table's values, the reasons it is bad (each naming the
column and the rule, in plain words), and its warnings. Messages never repeat an ID
number or a name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from include import idnumber, registry
from include.registry import Column, Source

_YMD = re.compile(r"\d{8}")
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}")
_UINT = re.compile(r"\d+")
_AREA = re.compile(r"\d{12}")
_COUNTY = re.compile(r"\d{6}")
_SEX_OF_CODE = {"1": "M", "2": "F", "男": "M", "女": "F"}


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


@dataclass
class RowOutcome:
    values: list  # the raw table's values, in registry.raw_columns order (without _file_id, _row_number)
    reasons: list[str] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (column header, message)
    key: str = ""


class RowValidator:
    """Validates rows of one file of one source, given where each column sits in the file."""

    def __init__(self, src: Source, positions: dict[str, int], as_of: date, pseudonymize):
        self.src = src
        self.positions = positions  # warehouse column name -> index in the row
        self.as_of = as_of
        self.pseudonymize = pseudonymize
        self.towns = frozenset(registry.town_units())
        self.key_columns = src.key

    def _date(self, col: Column, raw: object, text: str) -> date:
        if col.date_format == registry.EXCEL:
            if isinstance(raw, datetime):
                return raw.date()
            if isinstance(raw, date):
                return raw
            fmt, pattern, shown = registry.ISO, _ISO, "an Excel date or YYYY-MM-DD text"
        elif col.date_format == registry.YMD:
            fmt, pattern, shown = registry.YMD, _YMD, "YYYYMMDD"
        else:
            fmt, pattern, shown = registry.ISO, _ISO, "YYYY-MM-DD"
        if not pattern.fullmatch(text):
            raise ValueError(f"{text!r} is not a date written {shown}")
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            raise ValueError(f"{text!r} is not a real date") from None

    def _number(self, col: Column, text: str):
        if col.kind == registry.INTEGER:
            if not _UINT.fullmatch(text):
                raise ValueError(f"{text!r} is not a whole number")
            number = int(text)
        else:
            if not re.fullmatch(rf"\d+(\.\d{{1,{col.max_decimals}}})?", text):
                raise ValueError(f"{text!r} is not a number with at most {col.max_decimals} decimal")
            number = Decimal(text)
        if not (col.minimum <= number <= col.maximum):
            raise ValueError(f"{text} lies outside {col.minimum:g}..{col.maximum:g}")
        return number

    def _area(self, col: Column, text: str) -> str:
        if not _AREA.fullmatch(text):
            raise ValueError(f"{text!r} is not a 12-digit area code")
        inside = text.startswith(registry.DISTRICT_CODE)
        if col.district_rule == registry.IN_DISTRICT or (col.district_rule == registry.DISTRICT_IF_INSIDE and inside):
            if text[:9] not in self.towns:
                where = "are not a town-level unit of the district" if inside else "are not in the district"
                raise ValueError(f"{text!r}: its first 9 digits {where} ({registry.DISTRICT_CODE})")
        return text

    def validate(self, cells: list[object]) -> RowOutcome:
        """`cells` as read (CSV: strings; XLSX: typed cells)."""
        out = RowOutcome(values=[])
        texts: dict[str, str] = {}
        parsed_ids: dict[str, idnumber.ParsedId] = {}
        typed: dict[str, object] = {}

        for col in self.src.columns:
            raw = cells[self.positions[col.name]]
            text = cell_text(raw).strip()
            texts[col.name] = text
            value: object = None
            if not text:
                if col.required:
                    out.reasons.append(f"{col.header}: a required value is empty")
            else:
                try:
                    value = self._parse(col, raw, text, parsed_ids)
                except idnumber.InvalidIdNumber as exc:
                    if col.required:
                        out.reasons.append(f"{col.header}: not a valid ID number, {exc}")
                    else:
                        out.warnings.append((col.header, f"optional ID number is invalid ({exc}); treated as empty"))
                        parsed_ids[col.name] = None  # type: ignore[assignment]
                except ValueError as exc:
                    out.reasons.append(f"{col.header}: {exc}")
            typed[col.name] = value

        self._row_rules(texts, typed, parsed_ids, out)
        out.values = self._raw_values(typed, parsed_ids)
        out.key = "\x1f".join(
            parsed_ids[k].canonical if parsed_ids.get(k) else texts[k] for k in self.key_columns
        )
        return out

    def _parse(self, col: Column, raw: object, text: str, parsed_ids: dict) -> object:
        kind = col.kind
        if kind == registry.ID_NUMBER:
            parsed_ids[col.name] = idnumber.parse(text)
            return None
        if kind == registry.ENUM:
            if text not in col.values:
                raise ValueError(f"{text!r} is not one of {' / '.join(col.values)}")
            return text
        if kind == registry.DATE:
            return self._date(col, raw, text)
        if kind in (registry.INTEGER, registry.DECIMAL):
            return self._number(col, text)
        if kind == registry.AREA_CODE:
            return self._area(col, text)
        if kind == registry.COUNTY_CODE:
            if not _COUNTY.fullmatch(text):
                raise ValueError(f"{text!r} is not a 6-digit county code")
            return text
        if kind == registry.PATTERN:
            if not re.fullmatch(col.pattern, text):
                raise ValueError(f"{text!r} does not have the required form ({col.pattern})")
            return text
        return text  # TEXT, PERSON_NAME: any non-empty value

    def _row_rules(self, texts, typed, parsed_ids, out: RowOutcome) -> None:
        src = self.src
        for col in src.columns:
            if col.required_when and not texts[col.name]:
                other, values = col.required_when
                if texts[other] in values:
                    out.reasons.append(f"{col.header}: must be given when {src.column(other).header} is {texts[other]}")
        if src.event_date and isinstance(typed.get(src.event_date), date) and typed[src.event_date] > self.as_of:
            col = src.column(src.event_date)
            out.reasons.append(f"{col.header}: {typed[src.event_date]} lies after the file's as-of date {self.as_of}")
        for col in src.columns:
            pid = parsed_ids.get(col.name)
            if col.kind != registry.ID_NUMBER or pid is None:
                continue
            if col.birth_date_column and isinstance(typed.get(col.birth_date_column), date):
                if typed[col.birth_date_column] != pid.birth_date:
                    other = src.column(col.birth_date_column).header
                    out.warnings.append((col.header, f"the ID number's birth date disagrees with {other}"))
            if col.sex_column and texts.get(col.sex_column) in _SEX_OF_CODE:
                if _SEX_OF_CODE[texts[col.sex_column]] != pid.sex:
                    other = src.column(col.sex_column).header
                    out.warnings.append((col.header, f"the ID number's sex disagrees with {other}"))

    def _raw_values(self, typed, parsed_ids) -> list:
        values: list = []
        for col in self.src.columns:
            if col.kind == registry.PERSON_NAME:
                continue
            if col.kind == registry.ID_NUMBER:
                pid = parsed_ids.get(col.name)
                values += [self.pseudonymize(pid.canonical), pid.birth_date, pid.sex] if pid else [None, None, None]
                if not col.required:
                    values.append(None if col.name not in parsed_ids else pid is not None)
                continue
            values.append(typed[col.name])
        return values

    def pseudonymous_key(self, key: str) -> str:
        """The row's key for warnings and logs, with ID numbers replaced by their pseudonym."""
        parts = key.split("\x1f")
        return " / ".join(
            self.pseudonymize(part) if self.src.column(name).kind == registry.ID_NUMBER else part
            for name, part in zip(self.key_columns, parts)
        )
