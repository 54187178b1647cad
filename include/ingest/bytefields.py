"""A piece's records as fields over its bytes, and numpy helpers over them.

Where the fields are (`split_lines` for a plain piece, `from_cells` for records the csv
module parsed), and what the columnar checks do with them: row gathers from a sliding view,
ASCII digits checked eight bytes at a time in 64-bit words, numbers read from digits, and the
calendar (a real date, and its PostgreSQL day number) by table.
"""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

import numpy as np

_EPOCH = date(2000, 1, 1).toordinal()  # PostgreSQL's day 0
PAD = 64  # zero bytes after a piece's records: gathers of up to this width never run past them


class Records(NamedTuple):
    """Rows of a piece as wide as the header: arr[fs[j, i]:fe[j, i]] is field i of row j."""

    arr: np.ndarray  # uint8
    fs: np.ndarray  # (rows, width) int64
    fe: np.ndarray
    numbers: np.ndarray  # each row's line number
    lo: np.ndarray  # each row's first and last byte (its fields, in arr)
    hi: np.ndarray
    cells: bool = False  # laid out from the csv module's fields (else: a plain piece's lines)


class PlainLines(NamedTuple):
    fit: Records
    others: list[tuple[int, int, int]]  # (line number, start, end): lines of another width, or empty


def split_lines(buf: bytes, width: int, base_line: int) -> PlainLines:
    """The lines of a plain piece (see `framing.is_plain`) and their fields."""
    arr = np.frombuffer(buf, np.uint8)
    ends = np.flatnonzero(arr == 10)
    if buf and buf[-1] != 10:
        ends = np.append(ends, len(arr))
    starts = np.zeros(len(ends), np.int64)
    starts[1:] = ends[:-1] + 1
    cr = (ends > starts) & (arr[np.maximum(ends - 1, 0)] == 13) if len(arr) else np.zeros(0, bool)
    body_end = ends - cr
    commas = np.flatnonzero(arr == 44)
    numbers = base_line + 1 + np.arange(len(starts))
    if width > 1 and len(commas) == len(starts) * (width - 1):  # as wide as the header, each line?
        first = np.arange(len(starts)) * (width - 1)
        grid = commas.reshape(len(starts), width - 1)
        fit = (grid[:, 0] >= starts) & (grid[:, -1] < body_end)
        if not fit.all():
            first = np.searchsorted(commas, starts)
            fit = (np.searchsorted(commas, body_end) - first == width - 1) & (body_end > starts)
    else:
        first = np.searchsorted(commas, starts)
        fit = (np.searchsorted(commas, body_end) - first == width - 1) & (body_end > starts)
    where = np.flatnonzero(fit)
    n = len(where)
    fs = np.empty((n, width), np.int64)
    fe = np.empty((n, width), np.int64)
    fs[:, 0] = starts[where]
    fe[:, -1] = body_end[where]
    if width > 1:
        at = commas[first[where][:, None] + np.arange(width - 1)]
        fs[:, 1:] = at + 1
        fe[:, :-1] = at
    odd = np.flatnonzero(~fit)
    others = list(zip(numbers[odd].tolist(), starts[odd].tolist(), body_end[odd].tolist()))
    padded = np.frombuffer(buf + bytes(PAD), np.uint8)
    return PlainLines(Records(padded, fs, fe, numbers[where], fs[:, 0].copy(), fe[:, -1].copy()), others)


def lines_at(buf: bytes, lines: np.ndarray) -> list[list[str]]:
    """The fields of the given lines (1 = the first) of a plain piece."""
    ends = np.flatnonzero(np.frombuffer(buf, np.uint8) == 10)
    ends = np.append(ends, len(buf))
    out = []
    for line in (lines - 1).tolist():
        start = int(ends[line - 1]) + 1 if line else 0
        body = buf[start:int(ends[line])]
        out.append(body.decode("utf-8").removesuffix("\r").split(","))
    return out


def from_cells(rows: list[list[str]], numbers: list[int], width: int) -> Records:
    """Rows parsed by the csv module laid out as bytes, each row's fields one after another."""
    cells = [cell for row in rows for cell in row]
    encoded = [c.encode("utf-8") for c in cells]
    lengths = np.fromiter(map(len, encoded), np.int64, len(encoded))
    starts = np.zeros(len(encoded), np.int64)
    if len(encoded) > 1:
        np.cumsum(lengths[:-1], out=starts[1:])
    fs = starts.reshape(len(rows), width)
    fe = (starts + lengths).reshape(len(rows), width)
    arr = np.frombuffer(b"".join(encoded) + bytes(PAD), np.uint8)
    return Records(arr, fs, fe, np.array(numbers, np.int64), fs[:, 0].copy(), fe[:, -1].copy(), cells=True)


def gather(arr: np.ndarray, s: np.ndarray, width: int) -> np.ndarray:
    """(rows, width): the `width` bytes from each start (a row copy each, from a sliding view;
    the records' bytes end in PAD zero bytes, so that no start runs past them)."""
    if width <= PAD:
        return np.lib.stride_tricks.sliding_window_view(arr, width)[s]
    index = s[:, None] + np.arange(width)
    np.minimum(index, len(arr) - 1, out=index)
    return arr[index]


HIGH = np.uint64(0x8080808080808080)
_LOW7 = np.uint64(0x7F7F7F7F7F7F7F7F)
_ADD_46 = np.uint64(0x4646464646464646)
_ADD_50 = np.uint64(0x5050505050505050)


def byte_mask(positions) -> list[np.uint64]:
    """Per 8-byte word, the high bits of the byte positions given (in little-endian words)."""
    words = [0] * (max(positions, default=0) // 8 + 1)
    for p in positions:
        words[p // 8] |= 0x80 << (8 * (p % 8))
    return [np.uint64(w) for w in words]


def non_digits(words: np.ndarray) -> np.ndarray:
    """Per word, the high bit of each byte that is not an ASCII digit (eight bytes at a time)."""
    y = words & _LOW7
    return (words & HIGH) | ((y + _ADD_46) & HIGH) | (~(y + _ADD_50) & HIGH)


def all_digits(bad: np.ndarray, positions) -> np.ndarray:
    ok = np.ones(len(bad), bool)
    for j, mask in enumerate(byte_mask(positions)):
        if mask:
            ok &= (bad[:, j] & mask) == 0
    return ok


def number(grid: np.ndarray, start: int, stop: int) -> np.ndarray:
    """The digits grid[:, start:stop] as a number (for rows whose digits they are)."""
    value = grid[:, start].astype(np.int64) - 48
    for i in range(start + 1, stop):
        value = value * 10 + grid[:, i] - 48
    return value


LENGTH_MASKS = np.array([[(1 << (8 * max(0, min(8, n - 8 * j)))) - 1 for j in range(4)] for n in range(33)],
                         np.uint64)


KEEP_BYTES = np.array([(1 << (8 * k)) - 1 for k in range(9)], np.uint64)  # the low k bytes of a word


class Column(NamedTuple):
    s: np.ndarray
    L: np.ndarray
    grids: dict  # width -> (rows, width) uint8 of the field's bytes, zero past its end


def grid(arr: np.ndarray, c: Column, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `width` (a multiple of 8, at most 32) bytes of each field, zero past the field's end,
    and the same as little-endian 8-byte words."""
    if width not in c.grids:
        grid = gather(arr, c.s, width)
        words = grid.view("<u8")
        shortest = int(c.L.min()) if len(c.L) else 0
        for j in range(width // 8):
            if shortest < 8 * j + 8:  # some field ends before this word does
                words[:, j] &= KEEP_BYTES[np.clip(c.L - 8 * j, 0, 8)]
        c.grids[width] = grid
    grid = c.grids[width]
    return grid, grid.view("<u8")


_FIRST_YEAR, _LAST_YEAR = 1800, 2200  # dates outside are left to the row path


def calendar() -> tuple[np.ndarray, np.ndarray]:
    """Per (year, month): its first day's PostgreSQL day number, and its length (0: no such month)."""
    years = _LAST_YEAR - _FIRST_YEAR + 1
    first, length = np.zeros((years, 13), np.int64), np.zeros((years, 13), np.int64)
    for y in range(_FIRST_YEAR, _LAST_YEAR + 1):
        for m in range(1, 13):
            first[y - _FIRST_YEAR, m] = date(y, m, 1).toordinal() - _EPOCH
            length[y - _FIRST_YEAR, m] = (date(y + (m == 12), m % 12 + 1, 1) - date(y, m, 1)).days
    return first, length


_MONTH_FIRST, _MONTH_LENGTH = calendar()


def real_days(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whether (y, m, d) is a real date (of the years 1800..2200: others go to the row path),
    and its PostgreSQL day number."""
    year = np.clip(y - _FIRST_YEAR, 0, _LAST_YEAR - _FIRST_YEAR)
    month = np.clip(m, 0, 12)
    ok = (y >= _FIRST_YEAR) & (y <= _LAST_YEAR) & (m == month) & (d >= 1) & (d <= _MONTH_LENGTH[year, month])
    return ok, _MONTH_FIRST[year, month] + d - 1
