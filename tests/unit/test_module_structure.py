"""The package's shape: every module imports on its own (no import cycle), and modules stay small."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "kubewire"
# Dotted names below the package, subpackages included: "manifests", "lab.nodes".
MODULES = sorted(".".join(path.relative_to(PACKAGE).with_suffix("").parts) for path in PACKAGE.rglob("*.py")
                 if path.stem != "__init__")
MAX_LINES = 400
# A module may be longer when its docstring says why, in a sentence starting with this.
LONGER_BECAUSE = "Longer than 400 lines"


@pytest.mark.parametrize("module", MODULES)
def test_each_module_imports_alone_in_a_fresh_interpreter(module):
    # In one process an import cycle can hide behind whichever module happened to load first.
    result = subprocess.run([sys.executable, "-c", f"import kubewire.{module}"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_spec_and_settings_do_not_import_each_other():
    imported = {}
    for name in ("spec", "settings", "names"):
        tree = ast.parse((PACKAGE / f"{name}.py").read_text())
        imported[name] = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert "spec" not in imported["settings"]
    assert not {"spec", "settings"} & imported["names"]


@pytest.mark.parametrize("module", MODULES)
def test_modules_are_short_or_say_why(module):
    text = (PACKAGE / f"{module.replace('.', '/')}.py").read_text()
    lines = text.count("\n")
    docstring = ast.get_docstring(ast.parse(text)) or ""
    assert lines <= MAX_LINES or LONGER_BECAUSE in docstring, f"kubewire/{module}.py has {lines} lines"


TESTS = PACKAGE.parent / "tests"
TEST_FILES = sorted(path for path in TESTS.rglob("*.py") if "__pycache__" not in path.parts)


def _imported_modules(tree: ast.Module) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda path: str(path.relative_to(TESTS)))
def test_no_test_module_imports_a_test_module_or_a_conftest(path):
    # Shared helpers live in a helper module of their folder; a conftest holds fixtures only.
    imported = {name for name in _imported_modules(ast.parse(path.read_text())) if name.startswith("tests")}
    wrong = sorted(name for name in imported
                   if name.rpartition(".")[2].startswith("test_") or name.rpartition(".")[2] == "conftest")
    assert not wrong, f"{path.relative_to(TESTS)} imports {wrong}"


def _own_statements(function: ast.FunctionDef) -> list[ast.AST]:
    """The statements of a function itself, not of the functions or classes defined inside it."""
    found, pending = [], list(function.body)
    while pending:
        node = pending.pop()
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            found.append(node)
            pending += ast.iter_child_nodes(node)
    return found


@pytest.mark.parametrize("path", [path for path in TEST_FILES if path.name.startswith("test_")],
                         ids=lambda path: str(path.relative_to(TESTS)))
def test_no_test_returns_or_continues_early(path):
    # A check that does not apply is skipped with a reason (pytest.skip), never passed in silence.
    tests = [node for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.FunctionDef) and node.name.startswith("test")]
    early = [f"{test.name} line {node.lineno}" for test in tests for node in _own_statements(test)
             if isinstance(node, ast.Return | ast.Continue)]
    assert not early, f"{path.relative_to(TESTS)}: {early}"
