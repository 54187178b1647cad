import random
from datetime import date

import pytest

from include.contract import idnumber

# GB 11643-1999's own example number: 11010519491231002X (a woman born 1949-12-31).
STANDARD_EXAMPLE = "11010519491231002X"


def test_the_standard_example_is_valid():
    parsed = idnumber.parse(STANDARD_EXAMPLE)
    assert parsed.canonical == STANDARD_EXAMPLE
    assert parsed.birth_date == date(1949, 12, 31)
    assert parsed.sex == "F"


def test_lower_case_x_is_the_same_number():
    assert idnumber.parse(STANDARD_EXAMPLE.lower()).canonical == STANDARD_EXAMPLE


def test_wrong_check_character_is_rejected_without_repeating_the_number():
    wrong = STANDARD_EXAMPLE[:-1] + "1"
    with pytest.raises(idnumber.InvalidIdNumber) as exc:
        idnumber.parse(wrong)
    assert "check character" in str(exc.value)
    assert wrong not in str(exc.value)


def test_fifteen_digit_number_is_its_eighteen_digit_form():
    parsed = idnumber.parse("110105491231002")
    assert parsed.canonical == STANDARD_EXAMPLE
    assert parsed.birth_date == date(1949, 12, 31)


@pytest.mark.parametrize("value, why", [
    ("110105491331002", "birth-date"),       # 15 digits, month 13
    ("11010519490230002X", "birth-date"),    # 30 February
    ("1101051949123100", "neither"),         # 16 characters
    ("11010519491231002Y", "neither"),
])
def test_malformed_numbers_are_rejected(value, why):
    with pytest.raises(idnumber.InvalidIdNumber, match=why):
        idnumber.parse(value)


def test_make_builds_valid_numbers_with_the_sex_parity():
    man = idnumber.make("310112", date(2000, 2, 29), 131)
    woman = idnumber.make("310112", date(2000, 2, 29), 132)
    assert idnumber.parse(man).sex == "M" and idnumber.parse(woman).sex == "F"
    old_form = idnumber.to_15_digit(idnumber.make("310112", date(1975, 5, 6), 17))
    assert idnumber.parse(old_form).birth_date == date(1975, 5, 6)


def _weighted_check(first17: str) -> str:  # GB 11643 as written: sum of digit times weight, mod 11
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights)) % 11]


def test_check_character_is_the_weighted_sum_of_the_standard():
    rng = random.Random(1)
    for _ in range(20_000):
        first17 = "".join(rng.choice("0123456789") for _ in range(17))
        assert idnumber.check_character(first17) == _weighted_check(first17)
