"""ID numbers (valid, vectorised; or broken on purpose) and unified social credit codes."""

from __future__ import annotations

import numpy as np

from include.contract import idnumber
from include.contract import registry as reg
from include.contract.idnumber import check_character
from include.synthetic.dates import EPOCH64, years_of

_WEIGHTS17 = np.array(idnumber.WEIGHTS, dtype=np.uint64)


def id_numbers(addr: np.ndarray, born: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """Vectorised idnumber.make: 18-character numbers as bytes (S18)."""
    ymd = years_of(born) * 10_000
    dt = EPOCH64 + born.astype("timedelta64[D]")
    ymd += (dt.astype("M8[M]").astype(np.int64) % 12 + 1) * 100
    ymd += (dt - dt.astype("M8[M]").astype("M8[D]")).astype(np.int64) + 1
    first17 = (addr.astype(np.uint64) * np.uint64(10**11) + ymd.astype(np.uint64) * np.uint64(1000)
               + seq.astype(np.uint64))
    total = np.zeros(len(first17), dtype=np.uint64)
    rest = first17.copy()
    for w in _WEIGHTS17[::-1]:  # last digit first
        total += (rest % np.uint64(10)) * w
        rest //= np.uint64(10)
    check = np.frombuffer(idnumber.CHECK_CHARS.encode(), dtype="S1")[(total % np.uint64(11)).astype(np.int64)]
    return np.strings.add(first17.astype("S17"), check)


def wrong_check(number: str, rng: np.random.Generator) -> str:
    """The number (18-digit form) with a check character that does not match."""
    if len(number) == 15:
        number = number[:6] + "19" + number[6:]
        number += check_character(number)
    right = number[17].upper()
    return number[:17] + str(rng.choice([c for c in "0123456789X" if c != right]))


def malformed(number: str, rng: np.random.Generator) -> str:
    form = int(rng.integers(3))
    if form == 0:
        return number[:-1] if len(number) == 18 else number + "12"  # 17 characters
    if form == 1:
        return number[:10] + "A" + number[11:]  # a letter among the digits
    return number + "0"  # one digit too many


def credit_code(rng: np.random.Generator, county: str = reg.DISTRICT_CODE, kind: str = "91") -> str:
    """A unified social credit code (GB 32100) with valid organisation and final checks."""
    chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    org = "".join(str(d) for d in rng.integers(0, 10, 8))
    total = sum(int(c) * w for c, w in zip(org, (3, 7, 9, 10, 5, 8, 4, 2), strict=True))
    c9 = 11 - total % 11
    org += {10: "X", 11: "0"}.get(c9, str(c9))
    body = kind + county + org
    weights = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
    total = sum(chars.index(c) * w for c, w in zip(body, weights, strict=True))
    return body + chars[(31 - total % 31) % 31]
