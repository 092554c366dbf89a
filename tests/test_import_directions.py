"""Imports point down the rooms of ARCHITECTURE.md: the Oura simulator stays out of the product and
the product out of it, nothing imports the gateway, `schemas` imports none of the project. Every
import statement counts, also those inside functions and under TYPE_CHECKING."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = frozenset(init.parent.name for init in ROOT.glob("*/__init__.py"))
SIMULATOR = "oura_simulator"


def _imported_modules(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    # Relative imports stay inside their own package.
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        return [node.module]
    return []


def project_imports(package: str) -> list[tuple[str, str]]:
    """(file:line, imported package) for each import of another of the project's packages."""
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text("utf-8"), str(path))
        for node in ast.walk(tree):
            for module in _imported_modules(node):
                top = module.partition(".")[0]
                if top in PACKAGES and top != package:
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    found.append((where, top))
    return found


def offending(packages: set[str], allowed: set[str]) -> list[str]:
    return [
        f"{where} imports {imported}"
        for package in sorted(packages)
        for where, imported in project_imports(package)
        if imported not in allowed
    ]


def test_the_packages_are_found() -> None:
    assert {"collector", "gateway", "stream_processor", "schemas", SIMULATOR} <= PACKAGES


def test_the_simulator_imports_nothing_of_the_services() -> None:
    assert offending({SIMULATOR}, allowed={"schemas"}) == []


def test_nothing_in_the_product_imports_the_simulator() -> None:
    # The production image has no simulator (Dockerfile): an import of it would fail there.
    product = PACKAGES - {SIMULATOR}
    assert offending(product, allowed=PACKAGES - {SIMULATOR}) == []


def test_nothing_imports_the_gateway() -> None:
    assert offending(PACKAGES - {"gateway"}, allowed=PACKAGES - {"gateway"}) == []


def test_schemas_import_none_of_the_project() -> None:
    assert offending({"schemas"}, allowed=set()) == []


def test_the_processor_and_the_migrations_import_only_schemas() -> None:
    assert offending({"stream_processor", "migrations"}, allowed={"schemas"}) == []
