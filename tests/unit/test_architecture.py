"""The house rules of include/, checked on the source: rooms import downward only, no import
cycles, no reach into another module's private names, modules small enough to read in one
sitting, the environment written only where a process is set up, DAG files wiring only."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INCLUDE = ROOT / "include"
MAX_LINES = 600

# Rooms in the order of the flow; a room may import only rooms before it (and itself).
# config and errors are the floor, tasks and cli the roof; synthetic needs the contract only;
# demo sets up a whole local run, so it sits just below the command line.
LAYERS = [
    {"config", "errors"},
    {"contract"},
    {"warehouse"},
    {"ingest"},
    {"lineage"},
    {"transform"},
    {"gate"},
    {"publish"},
    {"notify"},
    {"report"},
    {"synthetic"},
    {"tasks"},
    {"demo"},
    {"cli"},
]
LEVEL = {room: level for level, rooms in enumerate(LAYERS) for room in rooms}
# where a process's environment is set up (the demo's defaults, the command line)
MAY_WRITE_ENVIRON = {"include.config", "include.demo.run"}


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(INCLUDE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def room(module: str) -> str:
    return module.split(".")[1] if module.count(".") else "include"


def imports(path: Path, module: str) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every include import, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names if a.name.startswith("include")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("include"):
            known = modules()
            for alias in node.names:  # `from include.x import y`: y may be a module
                full = f"{node.module}.{alias.name}"
                if full in known:
                    found.append((full, [], node.lineno))
                else:
                    found.append((node.module, [alias.name], node.lineno))
    return found


ALL = modules()
GRAPH = {name: imports(path, name) for name, path in ALL.items()}


@pytest.mark.parametrize("name", sorted(ALL))
def test_module_is_short_enough_to_read_in_one_sitting(name):
    lines = len(ALL[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{ALL[name].relative_to(ROOT)} has {lines} lines (at most {MAX_LINES})"


def test_every_module_belongs_to_a_room():
    assert {room(m) for m in ALL if m != "include"} <= set(LEVEL), set(map(room, ALL)) - set(LEVEL)


def test_rooms_import_downward_only():
    upward = [f"{ALL[m].relative_to(ROOT)}:{line} imports {target}"
              for m, found in GRAPH.items() if m != "include"
              for target, _, line in found
              if room(target) != room(m) and LEVEL[room(target)] >= LEVEL[room(m)]]
    assert not upward, "\n".join(upward)


def test_no_import_cycles():
    edges = defaultdict(set)
    for m, found in GRAPH.items():
        for target, _, _ in found:
            target = target if target in ALL else next(
                (t for t in sorted(ALL, key=len, reverse=True) if target.startswith(t + ".")), target)
            if target != m and target in ALL and target != "include":
                edges[m].add(target)
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(ALL):
        if node not in state:
            visit(node)


def module_aliases(path: Path) -> set[str]:
    """The local names this file gives to include modules (`from include.x import y`, `import include.x as y`)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("include"):
            names |= {a.asname or a.name for a in node.names if f"{node.module}.{a.name}" in ALL}
        elif isinstance(node, ast.Import):
            names |= {a.asname for a in node.names if a.name.startswith("include") and a.asname}
    return names


def private_reaches(path: Path, taken: list[tuple[str, list[str], int]]) -> list[str]:
    """`from m import _x`, and `m._x` where m is an include module."""
    found = [f"{line}: takes {name} from {target}" for target, names, line in taken
             for name in names if name.startswith("_")]
    aliases = module_aliases(path)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            found.append(f"{node.lineno}: uses {node.value.id}.{node.attr}")
    return found


def test_no_module_takes_another_modules_private_names():
    reaching = [f"{ALL[m].relative_to(ROOT)}:{where}" for m, found in GRAPH.items()
                for where in private_reaches(ALL[m], found)]
    assert not reaching, "\n".join(reaching)


def test_the_private_name_check_sees_both_forms(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("from include.ingest import loader\nfrom include.ingest.loader import _digest\nloader._digest\n")
    taken = imports(probe, "probe")
    assert private_reaches(probe, taken) == ["2: takes _digest from include.ingest.loader", "3: uses loader._digest"]


def _writes_environ(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        target = None
        if isinstance(node, ast.Assign | ast.AugAssign | ast.Delete):
            targets = node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]
            for t in targets:  # os.environ[k] = v, del os.environ[k], os.environ |= {...}
                target = t.value if isinstance(t, ast.Subscript) else t
                if isinstance(target, ast.Attribute) and target.attr == "environ":
                    break
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
                "update", "setdefault", "pop", "popitem", "clear", "__setitem__", "__delitem__"):
            target = node.func.value
        putenv = isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "putenv"
        if putenv or (isinstance(target, ast.Attribute) and target.attr == "environ"):
            lines.append(node.lineno)
    return lines


def test_only_process_setup_writes_the_environment():
    writers = [f"{ALL[m].relative_to(ROOT)}:{line}" for m in ALL if m not in MAY_WRITE_ENVIRON
               for line in _writes_environ(ast.parse(ALL[m].read_text(encoding="utf-8")))]
    assert not writers, "os.environ written outside config.tool_environment and the demo setup:\n" + "\n".join(writers)


def test_the_environment_check_sees_a_write():
    probe = "\n".join(["import os", "os.environ['X'] = '1'", "os.environ.setdefault('Y', '2')", "os.environ |= {}",
                       "del os.environ['X']", "os.putenv('Z', '')"])
    assert sorted(_writes_environ(ast.parse(probe))) == [2, 3, 4, 5, 6]


@pytest.mark.parametrize("dag_file", sorted((ROOT / "dags").glob("*.py")), ids=lambda p: p.name)
def test_dag_files_are_wiring_only(dag_file):
    """A DAG file imports Airflow, its Assets and the task functions, and does nothing at import."""
    tree = ast.parse(dag_file.read_text(encoding="utf-8"))
    taken = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert taken <= {"__future__", "datetime", "airflow.sdk", "common.assets", "include"}, taken
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "include" for a in n.names}
    assert names <= {"tasks"}, names
