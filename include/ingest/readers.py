"""Reading a delivered file as records: CSV (GB18030 or UTF-8) and XLSX, the header first,
then batches; where each contract column sits in the header."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import NamedTuple

from include import config
from include.contract import registry
from include.errors import BadFile
from include.ingest import workbook
from include.ingest.cells import cell_text


class Batch(NamedTuple):
    """Records of a file, in order: the first batch is the header alone."""

    numbers: list[int]  # each record's line number (the header is line 1)
    rows: list[list]  # each record's fields (CSV: str; XLSX: typed cells)


def csv_batches(path: Path, src: registry.Source, size: int) -> Iterator[Batch]:
    """The non-blank records, in batches. A record is passed on once the next one has been
    read, and the last one once it is known not to be truncated; when the file turns out
    unreadable, what was read before is passed on first. (So everything happens in the
    order it did when records were passed on one at a time.)"""
    encoding = "gb18030" if src.encoding == "gb18030" else "utf-8-sig"  # a BOM is optional
    with path.open("rb") as probe:
        probe.seek(0, io.SEEK_END)
        file_size = probe.tell()
        probe.seek(max(file_size - 1, 0))
        ends_with_newline = file_size == 0 or probe.read(1) in (b"\n", b"\r")
    csv.field_size_limit(config.CSV_FIELD_LIMIT)  # longer cells than the contract's quarantine their row
    with path.open("r", encoding=encoding, errors="strict", newline="") as fh:
        reader = csv.reader(fh, strict=True)
        numbers: list[int] = []
        rows: list[list[str]] = []
        limit = 1  # the header goes alone: it is checked before more of the file is read
        try:
            for fields in reader:
                # blank: every field is white space (the first field usually shows it is not)
                if not fields or not (fields[0].strip() or "".join(fields).strip()):
                    continue
                if len(rows) == limit:
                    yield Batch(numbers, rows)
                    numbers, rows, limit = [], [], size
                numbers.append(reader.line_num)
                rows.append(fields)
        except UnicodeDecodeError as exc:
            error = BadFile(f"does not decode as {src.encoding.upper()} near byte {exc.start}")
        except csv.Error as exc:
            error = BadFile(_csv_error(exc, reader.line_num))
        else:
            error = None
            if rows and not ends_with_newline and numbers[-1] > 1:
                header_len = len(first_row(path, encoding))
                if len(rows[-1]) < header_len:
                    error = BadFile(f"is truncated: its last line {numbers[-1]} stops after "
                                    f"{len(rows[-1])} of {header_len} fields")
        if error is not None:
            if len(rows) > 1:  # all but the last record read
                yield Batch(numbers[:-1], rows[:-1])
            raise error
        if rows:
            yield Batch(numbers, rows)


def _csv_error(exc: csv.Error, line: int) -> str:
    """What a csv.Error means for the people who delivered the file."""
    if "field larger than field limit" in str(exc):
        return (f"is not valid CSV at line {line}: a field there runs longer than "
                f"{config.CSV_FIELD_LIMIT:,} characters (an unclosed quote swallowing the lines after it, "
                "or not CSV at all)")
    return f"is truncated or not valid CSV at line {line} ({exc})"


def first_row(path: Path, encoding: str) -> list[str]:
    with path.open("r", encoding=encoding, newline="") as fh:
        return next(csv.reader(fh), [])


def xlsx_rows(path: Path) -> Iterator[tuple[int, list[object]]]:
    for index, cells in enumerate(workbook.read_rows(path), start=1):
        if all(cell_text(c).strip() == "" for c in cells):
            continue
        yield index, list(cells)


def xlsx_batches(path: Path, size: int) -> Iterator[Batch]:
    rows = xlsx_rows(path)
    limit = 1  # the header alone, as for CSV
    while batch := list(islice(rows, limit)):
        numbers, cells = zip(*batch)
        yield Batch(list(numbers), list(cells))
        limit = size


def read_batches(path: Path, src: registry.Source, size: int = config.LOAD_BATCH_ROWS) -> Iterator[Batch]:
    """The file's non-blank records: the header alone, then `size` at a time."""
    return xlsx_batches(path, size) if src.file_format == "xlsx" else csv_batches(path, src, size)


def header_positions(header: list[object], src: registry.Source) -> tuple[dict[str, int], list[str], list[str]]:
    """Where each registry column sits; the missing headers; the extra headers.
    Every header of the contract must be there, those of columns that may be empty too."""
    names = [cell_text(h).strip() for h in header]
    known = {c.header for c in src.columns}
    for name in known:
        if names.count(name) > 1:  # two columns claim it: which one is meant cannot be told
            where = " and ".join(str(i + 1) for i, n in enumerate(names) if n == name)
            raise BadFile(f"has the header {name} twice (columns {where})")
    index = {name: i for i, name in enumerate(names)}
    positions = {col.name: index.get(col.header) for col in src.columns}
    missing = [c.header for c in src.columns if positions[c.name] is None]
    extra = [n for n in names if n not in known]
    return positions, missing, extra


def records_about(path: Path) -> int:
    """About how many records the file holds, from its size and its first megabyte's lines."""
    with path.open("rb") as fh:
        head = fh.read(1 << 20)
    return round(path.stat().st_size / max(len(head), 1) * head.count(b"\n"))
