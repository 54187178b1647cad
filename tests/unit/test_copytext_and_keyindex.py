"""The loader's two small engines: COPY text fields as psycopg writes them, and the key index."""

from __future__ import annotations

import random
from datetime import date

from include.ingest import copytext
from include.ingest.keyindex import KeyIndex


def test_copy_fields_are_what_psycopg_writes():
    assert copytext.field(None) == "\\N"
    assert copytext.field(True) == "t" and copytext.field(False) == "f"
    assert copytext.field(date(2026, 1, 2)) == "2026-01-02"
    assert copytext.field("a\tb\\c\nd\re\bf\vg\fh") == "a\\tb\\\\c\\nd\\re\\bf\\vg\\fh"


def test_the_key_index_agrees_with_a_dict():
    rng = random.Random(7)
    index, reference = KeyIndex(), {}
    for _ in range(300):
        new = list({rng.getrandbits(64) - 2**63 for _ in range(rng.randint(1, 500))} - set(reference))
        values = [rng.getrandbits(64) - 2**63 for _ in new]
        index.add_new(new, values)
        reference.update(zip(new, values))
        one = rng.getrandbits(64) - 2**63
        if one not in reference:
            index.add(one, 1)
            reference[one] = 1
        probe = rng.sample(sorted(reference), 20) + [rng.getrandbits(64) - 2**63 for _ in range(20)]
        assert index.present(probe) == [i for i, k in enumerate(probe) if k in reference]
        assert [index.get(k) for k in probe] == [reference.get(k) for k in probe]
    assert len(index) == len(reference) > 65536  # it grew past its first size

