"""64-bit hashes of rows' keys, per row, and the rows whose keys repeat in a file.

Two rows of a file with the same key are either identical (one row, the others duplicates) or
conflicting (all of them bad): which rows need that look is found at the end of the file, by
sorting the key hashes of every row; the rules are then replayed, in file order and on exact
texts, on the rows whose hash repeats. A hash only picks rows for the replay, so a collision
costs a look and never changes an outcome.

The hash of a key part is computed from its UTF-8 bytes the same way for a column of many rows
(numpy) and for a row checked on its own, so both paths agree.
"""

from __future__ import annotations

import numpy as np

_WORDS = 2049  # enough 8-byte words for the longest value (4,096 characters of 4 bytes)


def _odd_constants(seed: int, size: int) -> np.ndarray:
    return (np.random.default_rng(seed).integers(1, 2**63, size=size, dtype=np.uint64) << np.uint64(1)) | np.uint64(1)


_K = _odd_constants(20260131, _WORDS + 1)
_PART = _odd_constants(11643, 64)
_SHORT = 64  # parts up to this many bytes are hashed a column at a time; longer ones one by one


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer, in place on a uint64 array."""
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(31)
    return h


def part_hashes(arr: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The hash of each byte range arr[start:start + length] (one per row)."""
    n = len(starts)
    out = np.empty(n, np.uint64)
    if n == 0:
        return out
    short = lengths <= _SHORT
    if short.all():
        out[:] = _short_hashes(arr, starts, lengths)
    else:
        out[short] = _short_hashes(arr, starts[short], lengths[short])
        for i in np.flatnonzero(~short).tolist():
            out[i] = _short_hashes(arr, starts[i:i + 1], lengths[i:i + 1], width=int(lengths[i]))[0]
    return _mix(out)


def _short_hashes(arr: np.ndarray, starts: np.ndarray, lengths: np.ndarray, width: int | None = None) -> np.ndarray:
    if len(starts) == 0:
        return np.empty(0, np.uint64)
    width = int(lengths.max()) if width is None else width
    width = max(8, -(-width // 8) * 8)
    offsets = np.arange(width)
    index = starts[:, None] + offsets
    np.minimum(index, max(len(arr) - 1, 0), out=index)
    grid = arr[index] if len(arr) else np.zeros(index.shape, np.uint8)
    grid[offsets[None, :] >= lengths[:, None]] = 0
    words = np.ascontiguousarray(grid).view("<u8")
    h = (words * _K[1:words.shape[1] + 1]).sum(axis=1, dtype=np.uint64)
    return h + lengths.astype(np.uint64) * _K[0]


def word_hashes(words: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """part_hashes of fields already gathered: (rows, k) little-endian 8-byte words, zero past
    each field's `lengths` bytes."""
    h = lengths.astype(np.uint64) * _K[0]
    for j in range(words.shape[1]):
        h = h + words[:, j] * _K[j + 1]
    return _mix(h)


def bytes_hashes(parts: list[bytes]) -> np.ndarray:
    """part_hashes of separate byte strings."""
    lengths = np.fromiter(map(len, parts), np.int64, len(parts))
    starts = np.zeros(len(parts), np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    return part_hashes(np.frombuffer(b"".join(parts), np.uint8), starts, lengths)


def combine(parts: list[np.ndarray]) -> np.ndarray:
    """A key's hash from the hashes of its parts, in order."""
    h = parts[0] * _PART[0]
    for i, part in enumerate(parts[1:], start=1):
        h = h + part * _PART[i]
    return _mix(h.copy())


class KeyHashes:
    """Every row's key hash and line number, a piece at a time, in one array of 8 bytes a row
    (the hash's high 32 bits above the line number); at the end, sorted in place, the rows whose
    hash repeats (their line numbers, in file order). Memory: 8 bytes a row, no copy at the end: the
    array is reserved for as many rows as the file could hold (`most_rows`), and only the pages
    written to take memory. 32 bits of hash pick a few hundred rows too many in a file of
    millions (each a look, no more)."""

    def __init__(self, most_rows: int = 0):
        self.rows = np.empty(max(most_rows, 1 << 16), np.uint64)  # not written: not resident
        self.count = 0

    def add(self, hashes: np.ndarray, numbers: np.ndarray) -> None:
        n = len(hashes)
        if not n:
            return
        if self.count + n > len(self.rows):  # more rows than foreseen: a copy, twice the size
            grown = np.empty(max(2 * len(self.rows), self.count + n), np.uint64)
            grown[:self.count] = self.rows[:self.count]
            self.rows = grown
        packed = (hashes >> np.uint64(32)) << np.uint64(32)
        packed |= numbers.astype(np.uint64)  # line numbers fit: a file holds fewer than 2**32 lines
        self.rows[self.count:self.count + n] = packed
        self.count += n

    def repeated(self) -> list[int]:
        rows = self.rows[:self.count]
        rows.sort()
        high = rows >> np.uint64(32)
        same = high[1:] == high[:-1]
        if not same.any():
            return []
        member = np.zeros(len(rows), bool)
        member[1:] |= same
        member[:-1] |= same
        numbers = (rows[member] & np.uint64(0xFFFFFFFF)).astype(np.int64)
        self.rows, self.count = np.empty(0, np.uint64), 0
        return np.sort(numbers).tolist()
