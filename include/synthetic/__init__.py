"""A deterministic synthetic landing folder holding all fourteen sources.

The generator simulates one district (310112) in memory as numpy arrays: a registered and
a floating population with an age pyramid, marriages, births and the services around
them (registrations, checks, screenings, early education), hotels, contraceptive
distribution points and service sites. It then delivers, per source, the files the
contract in ../shared/spec/extracts.md describes: monthly (or quarterly) files named
`<source>_<YYYYMMDD>.<ext>`, in the source's encoding, format and date style, with the
registry's Chinese headers. Snapshots carry the full state on their as-of date; event
files carry the events of their period (the first file also the backlog before it) and
a few re-deliveries of earlier events.

Defects are injected at `defect_rate`: one row-level rule of the contract per damaged
row (see defects.RULES), exact duplicates, row warnings, five bad files and one
superseding `_2` delivery. Everything injected is recorded in the returned report, so a
loader's results can be reconciled with it. Layout variations that the contract allows
(shuffled columns, an unknown extra column, padded headers, text dates in xlsx, 15-digit
and lower-case-x ID numbers) are part of the data whatever the defect rate.

The same arguments give byte-identical files. Rows are rendered and written in chunks;
the district preset (2.65 million residents) never holds a file's rows in memory.

    python -m include.synthetic --landing-dir /tmp/landing --preset demo

The modules, each importing only those above it:

    dates, randomness, identifiers, vocabulary   day numbers, random streams, ID numbers, value tables
    world                                        the preset, the towns, the World that holds everything
    people, services                             the simulation: who lives here, and the services' records
    rows                                         rows per source, from the world, as cells
    deliveries                                   which files land, and their layouts
    defects                                      broken rules, duplicates, warnings, bad files
    writers                                      the files written (CSV, xlsx) and their arrival times
    generator                                    presets, generate(), the report, the command line
"""

from include.synthetic.generator import PRESETS, generate, main

__all__ = ["PRESETS", "generate", "main"]
