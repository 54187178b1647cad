"""The checks of the scripts that are not pytest modules (tests/stack, tests/kill): each printed
as it is made, PASS or FAIL, and kept for the summary at the end."""

from __future__ import annotations

from dataclasses import dataclass, field


class Fatal(AssertionError):
    """A check the rest of the scenario depends on failed."""


@dataclass
class Checks:
    results: list[tuple[str, bool, str]] = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.results.append((name, bool(ok), detail))
        print(f"  {'PASS' if ok else 'FAIL'}  {name}" + (f"  ({detail})" if detail else ""), flush=True)
        return bool(ok)

    def require(self, name: str, ok: bool, detail: str = "") -> None:
        if not self.check(name, ok, detail):
            raise Fatal(f"{name}: {detail}")

    @property
    def failed(self) -> list[tuple[str, bool, str]]:
        return [r for r in self.results if not r[1]]
