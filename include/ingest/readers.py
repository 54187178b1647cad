"""Reading a delivered file as records: CSV (GB18030 or UTF-8, in pieces: see `framing`) and
XLSX, the header first, then batches; where each contract column sits in the header."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import NamedTuple

from include import config
from include.contract import registry
from include.errors import BadFile
from include.ingest import framing, workbook
from include.ingest.cells import cell_text


class Batch(NamedTuple):
    """Records of a file, in order: the first batch is the header alone."""

    numbers: list[int]  # each record's line number (the header is line 1)
    rows: list[list]  # each record's fields (CSV: str; XLSX: typed cells)


def csv_batches(path: Path, src: registry.Source) -> Iterator[Batch | framing.Piece]:
    """The header record alone (a Batch), then the rest of the file a piece at a time
    (`framing.Piece`: about config.LOAD_PIECE_BYTES each, framed on record boundaries)."""
    frames = framing.Framing(path, framing.encoding_of(src.encoding), src.encoding.upper())
    try:
        header, number = frames.header()
        yield Batch([number], [header])
        yield from frames.pieces()
    finally:
        frames.close()


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


def read_batches(path: Path, src: registry.Source,
                 size: int = config.LOAD_BATCH_ROWS) -> Iterator[Batch | framing.Piece]:
    """The file's non-blank records: the header alone, then XLSX records `size` at a time, or
    CSV pieces (see `framing`)."""
    return xlsx_batches(path, size) if src.file_format == "xlsx" else csv_batches(path, src)


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
