"""The package stays readable: no module over ~450 lines, no function over ~60 (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "climnorm"
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60


def _functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def test_modules_are_short() -> None:
    long = {
        str(p.relative_to(SRC)): n
        for p in SRC.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_functions_are_short() -> None:
    long = {}
    for path in SRC.rglob("*.py"):
        for fn in _functions(ast.parse(path.read_text())):
            first = min([fn.lineno, *(d.lineno for d in fn.decorator_list)])
            length = (fn.end_lineno or fn.lineno) - first + 1
            if length > MAX_FUNCTION_LINES:
                long[f"{path.relative_to(SRC)}:{fn.name}"] = length
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_worker_processes_import_no_config_models_and_no_display() -> None:
    """The forkserver imports the workers' modules before the first task: pydantic's models and Rich cost it
    about 0.2 s that no worker uses."""
    import subprocess
    import sys

    code = (
        "import sys, climnorm.engines.local, climnorm.tasks; "
        "print(sorted(m for m in ('pydantic', 'rich', 'climnorm.config', 'xarray', 'yaml') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
