import hashlib
import hmac
import os

import pytest

from include.ingest.pseudonym import Pseudonymizer


@pytest.mark.parametrize("key_length", [0, 1, 32, 63, 64, 65, 200])  # shorter, as long as, longer than a block
def test_pseudonyms_are_hmac_sha256_of_the_canonical_number(key_length):
    key = os.urandom(key_length)
    pseudonymize = Pseudonymizer(key)
    for number in ["11010519491231002X", "", "中文" * 40]:
        assert pseudonymize(number) == hmac.new(key, number.encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize("key", ["k", "test-key", "密钥" * 5, "x" * 64, "y" * 65, "z" * 200])
@pytest.mark.parametrize("way", ["polars-hash", "hashlib"])
def test_many_pseudonyms_at_once_are_byte_for_byte_hmac_sha256(key, way):
    import numpy as np

    pseudonymize = Pseudonymizer(key.encode())
    if way == "hashlib":
        pseudonymize._text_key = None  # the fallback, as without polars-hash or with a key that is not text
    else:
        pytest.importorskip("polars_hash")
        assert pseudonymize._text_key == key
    rng = np.random.default_rng(7)
    numbers = ["".join(map(str, rng.integers(0, 10, 17))) + "0123456789X"[i % 11] for i in range(500)]
    grid = np.frombuffer("".join(numbers).encode(), np.uint8).reshape(-1, 18)
    present = rng.random(500) < 0.9
    hexed = pseudonymize.hex_rows(grid, present)
    for number, row, given in zip(numbers, hexed, present):
        expected = hmac.new(key.encode(), number.encode(), hashlib.sha256).hexdigest() if given else ""
        assert bytes(row).rstrip(b"\0").decode() == expected == (pseudonymize(number) if given else "")
