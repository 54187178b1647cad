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
    (["airflow-pools"], "default 2: the"),
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


@pytest.mark.parametrize("argv, level, verbose", [
    (["demo"], None, False),
    (["demo", "--verbose"], None, True),
    (["demo"], "DEBUG", True),  # FPWH_LOG_LEVEL=DEBUG brings the whole output back too
    (["demo"], "warning", False),
])
def test_the_demo_is_quiet_unless_asked(argv, level, verbose, monkeypatch):
    from include.demo import console, run

    if level is None:
        monkeypatch.delenv("FPWH_LOG_LEVEL", raising=False)
    else:
        monkeypatch.setenv("FPWH_LOG_LEVEL", level)
    chosen = []
    monkeypatch.setattr(console, "quiet", lambda: chosen.append("quiet") or console.loud())
    monkeypatch.setattr(run, "_demo", lambda: 0)
    assert cli.main(argv) == 0
    assert chosen == ([] if verbose else ["quiet"])


def test_a_bad_log_level_is_refused(monkeypatch, capsys):
    monkeypatch.setenv("FPWH_LOG_LEVEL", "LOUD")
    with pytest.raises(SystemExit) as done:
        cli.main(["summary"])
    assert done.value.code == 2 and "FPWH_LOG_LEVEL='LOUD'" in capsys.readouterr().err
