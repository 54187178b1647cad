"""The command line: every subcommand's --help helps (and runs nothing), and a stray argument
is refused with a message."""

from __future__ import annotations

import pytest

from include import cli


@pytest.mark.parametrize("command, says", [
    ([], "rebuild"),
    (["demo"], "usage: python -m include.cli demo"),
    (["summary"], "usage: python -m include.cli summary"),
    (["rollback"], "usage: python -m include.cli rollback"),
    (["report"], "--out DIR"),
    (["lineage"], "indicator code, e.g. fp_rate_floating"),
    (["rebuild"], "publication_id"),
    (["generate"], "--landing-dir"),  # the generator's own options
])
def test_every_help_helps(command, says, capsys):
    with pytest.raises(SystemExit) as done:
        cli.main([*command, "--help"])
    assert done.value.code == 0
    assert says in capsys.readouterr().out


def test_a_stray_argument_is_refused(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["summary", "--now"])
    assert done.value.code == 2 and "unrecognized arguments: --now" in capsys.readouterr().err
