"""Writing the files: a delivery's rows in chunks, with its layout, corrections, defects and
re-deliveries, into a CSV (GB18030 or UTF-8) or an xlsx file; then each file's arrival time."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import xlsxwriter

from include import config
from include.contract import registry as reg
from include.synthetic.dates import day_no
from include.synthetic.defects import Injector, correct_row
from include.synthetic.deliveries import EXTRA, EXTRA_HEADER, EXTRA_NOTES, Delivery, Layout, layout_for
from include.synthetic.randomness import stream
from include.synthetic.rows import ROWS, SNAPSHOT_SELECT, row_count, select_events, to_cells
from include.synthetic.world import World

ARRIVAL_ZONE = config.DISTRICT_TIMEZONE  # files land during the district's office hours
CHUNK_ROWS = 200_000  # rows rendered and written at a time: the district's files never sit whole in memory



class _Sink:
    """Writes columns of cells to a CSV (the source's encoding; CRLF for GB18030, LF
    otherwise) or to the first sheet of an xlsx file (real date cells)."""

    def __init__(self, path: Path, src: reg.Source, headers: list[str], created: date):
        self.xlsx = src.file_format == "xlsx"
        if self.xlsx:
            self.book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False,
                                                        "strings_to_formulas": False, "strings_to_urls": False})
            # A fixed creation time keeps the file byte-identical between runs.
            self.book.set_properties({"created": datetime(created.year, created.month, created.day)})
            self.sheet = self.book.add_worksheet()
            self.date_format = self.book.add_format({"num_format": "yyyy-mm-dd"})
            self.row = 0
        else:
            self.fh = path.open("wb")
            self.codec = "gb18030" if src.encoding == "gb18030" else "utf-8"
            self.eol = "\r\n" if src.encoding == "gb18030" else "\n"
            if src.encoding == "utf-8-sig":
                self.fh.write(b"\xef\xbb\xbf")
        self.write([[h] for h in headers])

    def write(self, columns: list[list]) -> None:
        if not self.xlsx:
            self.fh.write(_csv_text(columns, self.eol).encode(self.codec))
            return
        for values in zip(*columns, strict=True):
            for c, v in enumerate(values):
                if v is None or v == "":
                    continue
                if isinstance(v, date):
                    self.sheet.write_datetime(self.row, c, v, self.date_format)
                elif isinstance(v, float):
                    self.sheet.write_number(self.row, c, v)
                else:
                    self.sheet.write_string(self.row, c, str(v))
            self.row += 1

    def close(self) -> None:
        (self.book if self.xlsx else self.fh).close()


def _csv_text(columns: list[list], eol: str) -> str:
    """Rows as CSV text. Joining is fast; when a value needs quoting (a comma, a quote or a
    line end inside it), or is not text, the csv module writes the rows instead."""
    n = len(columns[0]) if columns else 0
    if n == 0:
        return ""
    try:
        text = eol.join(map(",".join, zip(*columns))) + eol
        plain = '"' not in text and text.count(",") == n * (len(columns) - 1) and text.count("\n") == n
    except TypeError:
        plain = False
    if plain:
        return text
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=eol).writerows(zip(*columns))
    return buffer.getvalue()


def _new_entry(d: Delivery, layout: Layout) -> dict:
    return {
        "source": d.code, "as_of": d.as_of.isoformat() if d.role != "bad_name" else None, "delivery": d.n,
        "role": d.role, "rows": 0, "bad_rows": {}, "duplicates": 0, "warnings": {}, "defects": {},
        "redelivered": 0, "corrected": 0, "text_dates": 0,
        "headers": layout.headers, "extra_headers": [EXTRA_HEADER] if EXTRA in layout.columns else [],
        "missing_headers": [c.header for c in d.src.columns if c.name not in layout.columns],
        "superseded_by": None, "supersedes": None,
    }


@dataclass
class Run:
    world: World
    landing: Path
    injector: Injector
    layouts: dict[str, str]  # file name -> layout variant
    say: Callable[[str], None]


def _chunks(run: Run, d: Delivery) -> Iterator[dict[str, list]]:
    """The file's rows as cells, in chunks: snapshot state or the period's events."""
    w, src = run.world, d.src
    as_of = day_no(d.as_of)
    if src.kind == "snapshot":
        idx = SNAPSHOT_SELECT[d.code](w, as_of)
    else:
        idx = select_events(w, d.code, as_of, None if d.since is None else day_no(d.since))
    idx = idx[: d.limit] if d.limit is not None else idx
    xlsx = src.file_format == "xlsx"
    for lo in range(0, len(idx), CHUNK_ROWS):
        yield to_cells(src, ROWS[d.code](w, idx[lo: lo + CHUNK_ROWS], as_of), xlsx)


def _redeliveries(run: Run, d: Delivery, base_rows: int, entry: dict) -> dict[str, list] | None:
    """A few earlier events again: mostly identical copies, some corrected."""
    w, src = run.world, d.src
    if src.kind != "event" or d.since is None or d.role not in ("regular", "superseding", "truncated"):
        return None
    rng = stream(w.seed, "redeliver", d.code, d.as_of)  # the same for a file and its `_n`
    earlier = select_events(w, d.code, day_no(d.since), None)
    k = min(len(earlier), int(rng.poisson(1 + 0.002 * base_rows)))
    if k == 0:
        return None
    rows = np.sort(rng.choice(earlier, size=k, replace=False))
    chunk = to_cells(src, ROWS[d.code](w, rows, day_no(d.as_of)), src.file_format == "xlsx")
    for i in range(k):
        if rng.random() < 0.3:
            correct_row(src, chunk, i, d.as_of, rng, src.file_format == "xlsx")
            entry["corrected"] += 1
    entry["redelivered"] += k
    return chunk


def _text_dates(src: reg.Source, chunk: dict[str, list], rng, entry: dict) -> None:
    """Excel files now and then hold a date as a text cell YYYY-MM-DD (valid)."""
    for col in src.columns:
        if col.date_format != reg.EXCEL:
            continue
        cells = chunk[col.name]
        for i in np.flatnonzero(rng.random(len(cells)) < 0.01).tolist():
            if isinstance(cells[i], date):
                cells[i] = cells[i].isoformat()
                entry["text_dates"] += 1


def write_file(run: Run, d: Delivery) -> dict:
    src, w = d.src, run.world
    rng = stream(w.seed, "file", d.name)
    variant = "missing_header" if d.role == "missing_header" else run.layouts.get(d.name, "")
    layout = layout_for(src, variant, rng)
    entry = _new_entry(d, layout)
    entry["layout"] = variant or None
    path = run.landing / d.name
    sink = _Sink(path, src, layout.headers, d.as_of)
    xlsx = src.file_format == "xlsx"
    base_rows = 0
    for chunk in _chunks(run, d):
        n = row_count(chunk)
        base_rows += n
        _extra_column(chunk, layout, rng)
        if d.role == "superseding":  # the corrected second delivery
            picked = np.flatnonzero(rng.random(n) < 0.03).tolist() or ([0] if n else [])
            for i in picked:
                correct_row(src, chunk, i, d.as_of, rng, xlsx)
                entry["corrected"] += 1
        if xlsx and d.role == "regular":
            _text_dates(src, chunk, rng, entry)
        if d.role == "regular" and run.injector.rate > 0:
            run.injector.inject(src, chunk, d.as_of, entry, rng, xlsx)
        _emit(sink, chunk, layout, entry)
    again = _redeliveries(run, d, base_rows, entry)
    if again:
        _extra_column(again, layout, rng)
        _emit(sink, again, layout, entry)
    sink.close()
    run.say(f"{d.name}: {entry['rows']:,} rows")
    return entry


def _extra_column(chunk: dict[str, list], layout: Layout, rng) -> None:
    """Values of the unknown extra column, before defects: a duplicate repeats them too."""
    if EXTRA in layout.columns:
        chunk[EXTRA] = [EXTRA_NOTES[i] for i in rng.integers(0, len(EXTRA_NOTES), row_count(chunk)).tolist()]


def _emit(sink: _Sink, chunk: dict[str, list], layout: Layout, entry: dict) -> None:
    n = row_count(chunk)
    for warning in chunk.get("_warning") or []:
        if warning:
            entry["warnings"][warning] = entry["warnings"].get(warning, 0) + 1
    sink.write([chunk[c] for c in layout.columns])
    entry["rows"] += n


# --------------------------------------------------------------------------- arrival times


def set_arrival_times(landing: Path, names: list[str], seed: int) -> list[str]:
    """Give each file the time it 'landed' (its modification time, which the loader records):
    within its deadline after the as-of date mostly, a few days late now and then, so that
    timeliness has something to report. Returns the late ones."""
    rng = np.random.default_rng(seed + 7)
    late = []
    for name in sorted(names):
        parts = name.split(".")[0].split("_")
        try:
            as_of = date(int(parts[2][:4]), int(parts[2][4:6]), int(parts[2][6:8]))
            deadline = reg.source(f"{parts[0]}_{parts[1]}").deadline_days
        except (IndexError, KeyError, ValueError):  # a deliberately bad name: lands the day after the start
            as_of, deadline = date.fromisoformat("2026-01-02"), 5
        days = int(rng.integers(1, deadline + 1))
        if rng.random() < 0.08:
            days = deadline + int(rng.integers(1, 13))
            late.append(name)
        landed = datetime(as_of.year, as_of.month, as_of.day, 9, tzinfo=ARRIVAL_ZONE) + timedelta(
            days=days, minutes=int(rng.integers(0, 8 * 60)))
        os.utime(landing / name, (landed.timestamp(), landed.timestamp()))
    return late
