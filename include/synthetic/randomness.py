"""Named random streams and weighted picks."""

from __future__ import annotations

import zlib

import numpy as np


def stream(seed: int, *names: object) -> np.random.Generator:
    """An independent, named random stream: adding a stream never shifts another one."""
    keys = [zlib.crc32(str(n).encode()) for n in names]
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


def pick(rng: np.random.Generator, values, weights, size=None):
    p = np.asarray(weights, dtype=float)
    return np.asarray(values)[rng.choice(len(p), size=size, p=p / p.sum())]
