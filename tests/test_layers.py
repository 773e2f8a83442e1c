"""The top packages import each other one way: no service imports `devstack` (`make up`), and
there is no cycle between packages."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "tickwire",
    "devstack",
    "sql",
    "ingest",
    "api",
    "notify",
    "dashboard",
    "simulator",
    "bench",
)
RUNTIME = ("tickwire", "sql", "ingest", "api", "notify", "dashboard", "simulator")


def import_graph() -> dict[str, set[str]]:
    """Top package → the other top packages its modules import (at any depth of the module)."""
    graph: dict[str, set[str]] = {package: set() for package in PACKAGES}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                graph[package] |= {n.split(".")[0] for n in names} & set(PACKAGES) - {package}
    return graph


def test_no_service_imports_the_local_stack() -> None:
    graph = import_graph()
    assert not [package for package in RUNTIME if "devstack" in graph[package]]


def test_packages_import_each_other_without_a_cycle() -> None:
    graph = import_graph()
    done: set[str] = set()

    def visit(package: str, path: tuple[str, ...]) -> None:
        assert package not in path, " → ".join((*path, package))
        if package not in done:
            for imported in graph[package]:
                visit(imported, (*path, package))
            done.add(package)

    for package in PACKAGES:
        visit(package, ())


def test_only_the_adapter_makes_mqtt_clients() -> None:
    """Every paho client of the services comes from tickwire/mqtt.py (STYLE.md 17)."""
    makers = []
    for package in RUNTIME:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name):
                    name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
                    if name == "Client":
                        makers.append(str(path.relative_to(ROOT)))
    assert makers == ["tickwire/mqtt.py"]


if __name__ == "__main__":
    for package, imported in import_graph().items():
        print(f"{package:<10} → {', '.join(sorted(imported)) or '—'}")
