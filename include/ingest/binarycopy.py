"""PostgreSQL's binary COPY format, written by the loader, and sent from a thread of its own.

A binary COPY costs the server two thirds of what CSV costs it. Each raw column's type has
its one encoding here: bigint and integer (big-endian), date (days since 2000-01-01), boolean,
text (UTF-8 bytes), numeric (base-10000 digits, as numeric_send writes them; the column's
typmod, numeric(5,1), is applied by the server as for text input).

Rows the columnar path vouched for are encoded a column at a time (`encode_columns`); the
others from their values (`encode_values`). The order of rows does not matter: each carries
its line number. `Sender` writes the encoded pieces from a second thread while the main one
checks the next piece (psycopg releases the GIL while it writes to the network).
"""

from __future__ import annotations

import queue
import struct
import threading
from datetime import date
from decimal import Decimal
from typing import NamedTuple

import numpy as np

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
TRAILER = struct.pack(">h", -1)
_EPOCH = date(2000, 1, 1).toordinal()
_NULL = struct.pack(">i", -1)


class Const(NamedTuple):
    """The same bytes in every row."""

    data: bytes


class Fixed(NamedTuple):
    """Per row `data[j]` (all of one width), or NULL where `null[j]`."""

    data: np.ndarray  # (rows, width) uint8
    null: np.ndarray | None


class Ranges(NamedTuple):
    """Per row the bytes arr[s[j]:s[j] + L[j]], or NULL where `null[j]`."""

    arr: np.ndarray
    s: np.ndarray
    L: np.ndarray
    null: np.ndarray | None


class Grid(NamedTuple):
    """Per row the first L[j] bytes of grid[j], or NULL where `null[j]`."""

    grid: np.ndarray  # (rows, width) uint8
    L: np.ndarray
    null: np.ndarray | None


def be32(values: np.ndarray) -> np.ndarray:
    return values.astype(">i4").view(np.uint8).reshape(-1, 4)


def days_of(day: date) -> int:
    return day.toordinal() - _EPOCH


def _sizes(field, n: int) -> np.ndarray:
    """Each row's data bytes for a field, -1 for NULL."""
    if isinstance(field, Const):
        return np.full(n, len(field.data), np.int64)
    size = np.full(n, field.data.shape[1], np.int64) if isinstance(field, Fixed) else field.L.astype(np.int64)
    if field.null is not None:
        size = np.where(field.null, -1, size)
    return size


def encode_columns(n: int, fields: list) -> list[bytes]:
    """`n` rows of the given fields (in the table's column order), as binary COPY tuples.

    Rows that share a layout (each field's length, or NULL) are written together as one
    matrix, a column of bytes at a time; they come out grouped by layout."""
    if n == 0:
        return []
    sizes = np.stack([_sizes(f, n) for f in fields], axis=1)
    varying = np.flatnonzero(sizes.min(axis=0) != sizes.max(axis=0))
    if len(varying) == 0:
        return [_encode_group(None, n, sizes[0], fields)]
    layout = np.zeros(n, np.int64)
    bits = 0
    for i in varying:
        span = int(sizes[:, i].max() + 2)
        bits += span.bit_length()
        layout = layout * span + (sizes[:, i] + 1)
    if bits > 62:  # too many kinds of layout to number: row by row (never seen in a delivery)
        return [_encode_group(np.array([j]), 1, sizes[j], fields) for j in range(n)]
    kinds, inverse = np.unique(layout, return_inverse=True)
    if len(kinds) == 1:
        return [_encode_group(None, n, sizes[0], fields)]
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(len(kinds) + 1))
    out = []
    for k in range(len(kinds)):
        rows = order[bounds[k]:bounds[k + 1]]
        out.append(_encode_group(rows, len(rows), sizes[rows[0]], fields))
    return out


def _encode_group(rows: np.ndarray | None, m: int, sizes: np.ndarray, fields: list) -> bytes:
    """The rows (None: all) of one layout, as a (rows, tuple width) matrix filled a field at a time."""
    width = 2 + int(sum(4 + max(int(s), 0) for s in sizes))
    grid = np.empty((m, width), np.uint8)
    grid[:, 0:2] = np.frombuffer(struct.pack(">h", len(fields)), np.uint8)
    col = 2
    for field, size in zip(fields, sizes.tolist()):
        grid[:, col:col + 4] = np.frombuffer(struct.pack(">i", size), np.uint8)
        col += 4
        if size <= 0:
            continue
        if isinstance(field, Const):
            grid[:, col:col + size] = np.frombuffer(field.data, np.uint8)
        elif isinstance(field, Fixed):
            grid[:, col:col + size] = field.data if rows is None else field.data[rows]
        elif isinstance(field, Grid):
            grid[:, col:col + size] = field.grid[:, :size] if rows is None else field.grid[rows, :size]
        else:
            if rows is None:
                rows = slice(None)
            index = field.s[rows][:, None] + np.arange(size)
            grid[:, col:col + size] = field.arr[index]
        col += size
    return grid.tobytes()


# ---- one row from its values ----------------------------------------------------------------


def _numeric(value: Decimal) -> bytes:
    sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):
        raise ValueError("not a finite number")
    text = "".join(map(str, digits)) + "0" * max(exponent, 0)
    scale = max(-exponent, 0)
    text = text.rjust(scale + 1, "0")  # 0.0001: digits 1, scale 4
    whole, fraction = (text[:len(text) - scale], text[len(text) - scale:]) if scale else (text, "")
    whole = whole.lstrip("0")
    whole = "0" * (-len(whole) % 4) + whole
    fraction += "0" * (-len(fraction) % 4)
    groups = [int(whole[i:i + 4]) for i in range(0, len(whole), 4)]
    groups += [int(fraction[i:i + 4]) for i in range(0, len(fraction), 4)]
    weight = len(whole) // 4 - 1
    while groups and groups[0] == 0:
        groups.pop(0)
        weight -= 1
    while groups and groups[-1] == 0:
        groups.pop()
    if not groups:
        weight = 0
    body = struct.pack(f">hhHH{len(groups)}H", len(groups), weight, 0x4000 if sign else 0, scale, *groups)
    return struct.pack(">i", len(body)) + body


def _field(value: object, sql_type: str) -> bytes:
    if value is None:
        return _NULL
    if sql_type == "bigint":
        return struct.pack(">iq", 8, value)
    if sql_type == "integer":
        return struct.pack(">ii", 4, value)
    if sql_type == "date":
        return struct.pack(">ii", 4, days_of(value))
    if sql_type == "boolean":
        return struct.pack(">i?", 1, value)
    if sql_type.startswith("numeric"):
        return _numeric(value if isinstance(value, Decimal) else Decimal(value))
    data = value.encode("utf-8")
    if b"\x00" in data:
        raise ValueError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
    return struct.pack(">i", len(data)) + data


def encode_values(values: list, sql_types: list[str]) -> bytes:
    """One row (every column's value, in the table's order) as a binary COPY tuple."""
    return struct.pack(">h", len(values)) + b"".join(map(_field, values, sql_types))


# ---- sending ----------------------------------------------------------------------------------


class Sender:
    """Writes blocks to a COPY from a thread of its own, a bounded queue ahead of it."""

    _DONE = object()

    def __init__(self, copy, depth: int):
        self.copy = copy
        self.blocks: queue.Queue = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="copy-sender", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (block := self.blocks.get()) is not self._DONE:
            if self.error is None:
                try:
                    self.copy.write(block)
                except BaseException as exc:  # handed to the main thread, which raises it
                    self.error = exc

    def send(self, block: bytes) -> None:
        if self.error is not None:
            self.close()
        self.blocks.put(block)

    def abandon(self) -> None:
        """Stop the thread, skipping what is still queued (the load failed anyway)."""
        if self.error is None:
            self.error = RuntimeError("abandoned")
        if self.thread.is_alive():
            self.blocks.put(self._DONE)  # the thread drains the queue without writing
            self.thread.join()

    def close(self) -> None:
        """Wait until everything queued is written; raise what the thread met."""
        if self.thread.is_alive():
            self.blocks.put(self._DONE)
            self.thread.join()
        if self.error is not None:
            raise self.error
