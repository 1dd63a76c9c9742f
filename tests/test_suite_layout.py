"""The suite's own layout: test modules stand alone; what they share lives in tests/helpers/."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports (`from tests import test_x` counts as tests.test_x)."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = "." * node.level + node.module
            modules.add(base)
            modules.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom):  # from . import x
            modules.update("." * node.level + alias.name for alias in node.names)
    return modules


def offending(path: Path, forbidden: tuple[str, ...]) -> set[str]:
    return {
        module
        for module in imported_modules(path)
        if any(module.lstrip(".").startswith(prefix) for prefix in forbidden)
        or (module.startswith(".") and module.lstrip(".").startswith(("test_", "conftest")))
    }


def test_no_test_module_imports_another_test_module_or_conftest() -> None:
    found = {
        path.name: offending(path, ("tests.test_", "tests.conftest", "test_", "conftest"))
        for path in sorted(TESTS.glob("*.py"))
    }
    assert {name: modules for name, modules in found.items() if modules} == {}


def test_helpers_import_neither_test_modules_nor_conftest() -> None:
    found = {
        path.name: offending(path, ("tests.test_", "tests.conftest"))
        for path in sorted((TESTS / "helpers").glob("*.py"))
    }
    assert {name: modules for name, modules in found.items() if modules} == {}
