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
