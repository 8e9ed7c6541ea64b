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
