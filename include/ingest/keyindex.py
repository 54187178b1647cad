"""The loader's memory of a file's keys: key digest -> digest of the first row with that key.

A file's duplicate check must remember every key it has seen, so this is the one part of
loading that grows with the file. A dict of Python ints costs about 150 bytes a key (200 MB
for a 1.4-million-row file); here a key costs one 16-byte slot in two numpy arrays, kept
at most 70% full (23 to 46 bytes a key), and a batch of keys is looked up or added at once.

Open addressing with linear probing. A digest is a 64-bit int (Python's hash); 0 marks an
empty slot, so a key digest of 0 is stored as 1 (one more chance of collision in 2**64).
"""

from __future__ import annotations

import numpy as np

_MAX_LOAD = 0.7  # linear probing stays short (about 6 slots for a key not there)


class KeyIndex:
    def __init__(self, expected_keys: int = 0):
        """Sized for `expected_keys` at once (up to 4 million): growing doubles the table, and
        old and new are both held while it is copied."""
        capacity = 1 << 16
        while capacity * _MAX_LOAD < min(expected_keys, 4_000_000):
            capacity *= 2
        self._keys = np.zeros(capacity, np.uint64)
        self._values = np.zeros(capacity, np.int64)
        self._mask = capacity - 1  # capacity is a power of 2
        self._count = 0

    def __len__(self) -> int:
        return self._count

    # ---- a batch at a time -------------------------------------------------------------

    def present(self, digests: list[int]) -> list[int]:
        """Positions (in `digests`) of the keys already in the index."""
        keys = _as_keys(digests)
        slots = self._probe(keys, keys & np.uint64(self._mask))
        return np.flatnonzero(self._keys[slots] == keys).tolist()

    def add_new(self, digests: list[int], values: list[int]) -> None:
        """Add keys that are not in the index and are distinct."""
        if not digests:
            return
        self._reserve(len(digests))
        self._insert(_as_keys(digests), np.array(values, np.int64))

    # ---- one key at a time (rows the loader checks one by one) -------------------------

    def get(self, digest: int) -> int | None:
        key = _as_key(digest)
        slot = key & self._mask
        while (held := int(self._keys[slot])) != 0:
            if held == key:
                return int(self._values[slot])
            slot = (slot + 1) & self._mask
        return None

    def add(self, digest: int, value: int) -> None:
        """Add a key that is not in the index."""
        self._reserve(1)
        key = _as_key(digest)
        slot = key & self._mask
        while int(self._keys[slot]) != 0:
            slot = (slot + 1) & self._mask
        self._keys[slot] = key
        self._values[slot] = value
        self._count += 1

    # ---- inside ------------------------------------------------------------------------

    def _probe(self, keys: np.ndarray, start: np.ndarray) -> np.ndarray:
        """Each key's slot: the one holding it, else the empty slot where its probe ends."""
        slots = start.astype(np.int64)
        pending = np.arange(len(keys))
        while pending.size:
            held = self._keys[slots[pending]]
            pending = pending[(held != keys[pending]) & (held != 0)]
            slots[pending] = (slots[pending] + 1) & self._mask
        return slots

    def _insert(self, keys: np.ndarray, values: np.ndarray) -> None:
        slots = self._probe(keys, keys & np.uint64(self._mask))
        pending = np.arange(len(keys))
        while pending.size:
            # New keys whose probes end at the same empty slot: one of them takes it (whichever
            # write numpy does last), the others see it taken and probe on.
            self._keys[slots[pending]] = keys[pending]
            took = self._keys[slots[pending]] == keys[pending]
            taking = pending[took]
            self._values[slots[taking]] = values[taking]
            pending = pending[~took]
            slots[pending] = self._probe(keys[pending], slots[pending].astype(np.uint64))
        self._count += len(keys)

    def _reserve(self, more: int) -> None:
        if self._count + more <= len(self._keys) * _MAX_LOAD:
            return
        capacity = len(self._keys)
        while self._count + more > capacity * _MAX_LOAD:
            capacity *= 2
        used = self._keys != 0
        keys, values = self._keys[used], self._values[used]
        self._keys = np.zeros(capacity, np.uint64)
        self._values = np.zeros(capacity, np.int64)
        self._mask = capacity - 1
        self._count = 0
        self._insert(keys, values)


def _as_keys(digests: list[int]) -> np.ndarray:
    keys = np.array(digests, np.int64).view(np.uint64)
    keys[keys == 0] = 1
    return keys


def _as_key(digest: int) -> int:
    return (digest & 0xFFFF_FFFF_FFFF_FFFF) or 1
