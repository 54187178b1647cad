"""公民身份号码 (resident ID numbers), GB 11643-1999 and the older 15-digit form.

Validation returns a reason in plain words, never the number itself: ID numbers must
not reach logs or error messages.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache
from typing import NamedTuple

from include.errors import InvalidIdNumber

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)  # of the 17 digits, GB 11643
CHECK_CHARS = "10X98765432"  # the check character of each remainder mod 11
_FORM_18 = re.compile(r"\d{17}[\dX]")
_FORM_15 = re.compile(r"\d{15}")


def check_character(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character of the first 17 digits.

    The weights are 2**17 .. 2**1 mod 11, and 13 = 2 (mod 11), so the 17 digits read as a
    base-13 number are half the weighted sum, mod 11: one C call instead of a 17-step loop
    (the loader checks every ID number it reads)."""
    if len(first17) == 17 and first17.isdecimal():
        return CHECK_CHARS[2 * int(first17, 13) % 11]
    # anything else fails here as it always did (int() of a non-digit, zip of another length)
    total = sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


class ParsedId(NamedTuple):  # a tuple, not a dataclass: the loader makes one per row, 1.4 million a file
    canonical: str  # the 18-character form, upper-case X
    birth_date: date
    sex: str  # "M" or "F", from the sequence number's parity


# An ID number (15 digits, or 17 digits and a check character) standing alone in a text: the
# one definition of what is masked in messages, check results and alerts.
IN_TEXT = re.compile(r"(?<![\d.])(?:\d{17}[\dXx]|\d{15})(?![\d.])")
MASK = "[masked]"


def mask(text: str) -> str:
    """`text` with anything shaped like an ID number replaced by [masked]."""
    return IN_TEXT.sub(MASK, text)


@lru_cache(maxsize=1 << 16)  # birth dates repeat (a century is 36,525 days); bounded, so memory stays flat
def _real_birth_date(yyyymmdd: str) -> date | None:
    try:
        return date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return None


def _birth_date(yyyymmdd: str) -> date:
    born = _real_birth_date(yyyymmdd)
    if born is None:
        raise InvalidIdNumber("its birth-date digits are not a real date")
    return born


def parse(value: str) -> ParsedId:
    """Validate an ID number and return its canonical 18-character form.

    A lower-case x is the same as X; a 15-digit number (birth date YYMMDD, century 19)
    is valid when its date is, and is the same person as its 18-digit form.
    """
    number = value.strip().upper()
    if _FORM_18.fullmatch(number):
        born = _birth_date(number[6:14])
        if check_character(number[:17]) != number[17]:
            raise InvalidIdNumber("its check character does not match (GB 11643, ISO 7064 MOD 11-2)")
    elif _FORM_15.fullmatch(number):
        born = _birth_date("19" + number[6:12])
        first17 = number[:6] + "19" + number[6:15]
        number = first17 + check_character(first17)
    else:
        raise InvalidIdNumber("it is neither 18 characters (17 digits and a digit or X) nor 15 digits")
    sex = "M" if int(number[16]) % 2 == 1 else "F"
    return ParsedId(number, born, sex)


def make(area_code: str, born: date, sequence: int) -> str:
    """Build a valid 18-character ID number (used by the synthetic-data generator)."""
    first17 = f"{area_code[:6]}{born:%Y%m%d}{sequence % 1000:03d}"
    return first17 + check_character(first17)


def to_15_digit(number: str) -> str:
    """The old 15-digit form of an 18-character number born in the 1900s."""
    if number[6:8] != "19":
        raise ValueError("only numbers of people born 1900-1999 have a 15-digit form")
    return number[:6] + number[8:17]
