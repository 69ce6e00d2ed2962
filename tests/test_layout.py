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
        "import sys, climnorm.engines.local, climnorm.engines.tasks; "
        "print(sorted(m for m in ('pydantic', 'rich', 'climnorm.config.model', 'xarray', 'yaml') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_main_process_of_a_pool_run_imports_no_netcdf(tmp_path: Path) -> None:
    """The main process plans, reduces and records; the workers read and write. Loading netCDF4 and h5py there
    too would cost the run's start about 0.1 s (docs/performance.md)."""
    import subprocess
    import sys

    from climnorm.synth import SynthSpec, write_archive

    write_archive(
        tmp_path / "archive", SynthSpec(historical_years=(2000, 2002), resolution=5.0, box=(15.0, 75.0, 140.0, 300.0))
    )
    config = tmp_path / "job.yaml"
    config.write_text(
        f"input_dirs: [{tmp_path / 'archive'}]\noutput_dir: {tmp_path / 'out'}\nvariables: [tas]\nregions: [CONUS]\n"
        "scenarios: [historical]\nwindow_years: 3\nmin_years_for_normal: 3\nhistorical_end: 2002\n"
        "multiprocessing_workers: 2\n"
    )
    code = (
        "import sys, climnorm.cli\n"
        "if __name__ == '__main__':\n"
        f"    code = climnorm.cli.main(['run', {str(config)!r}, '--progress', 'none'])\n"
        "    print(code, sorted(m for m in ('netCDF4', 'h5py', 'climnorm.read.extract', 'climnorm.write.netcdf') "
        "if m in sys.modules))\n"
    )
    script = tmp_path / "main.py"
    script.write_text(code)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "0 []"
    assert sorted(p.name for p in (tmp_path / "out").rglob("*.nc"))  # the workers did write the normals


def test_the_version_is_the_installed_one() -> None:
    """``climnorm.__version__`` comes from the source (no metadata read per process) and is what pip installed."""
    from importlib.metadata import version

    import climnorm

    assert climnorm.__version__ == version("climnorm")


def test_every_preloaded_module_imports_and_the_tasks_import_only_those() -> None:
    """multiprocessing ignores a preload that fails to import: a moved module would only slow the workers' start.
    So every name the forkserver preloads must import, and the stage modules the task functions import when they
    run must be the ones listed."""
    import importlib

    from climnorm.engines.forkserver import PRELOAD
    from climnorm.engines.worker import STAGE_MODULES

    for name in PRELOAD:
        importlib.import_module(name)
    assert set(STAGE_MODULES) <= set(PRELOAD)
    lazy = {
        node.module
        for fn in _functions(ast.parse((SRC / "engines" / "tasks.py").read_text()))
        for node in ast.walk(fn)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert lazy == set(STAGE_MODULES)


def test_the_public_api_resolves() -> None:
    """Every name `climnorm` exports imports, and the README's Python section uses no other module path."""
    import re

    import climnorm

    for name in climnorm.__all__:
        assert getattr(climnorm, name) is not None, name
    readme = (SRC.parents[1] / "README.md").read_text()
    section = readme[readme.index("## Python API") :]
    code = section[section.index("```python") : section.index("```", section.index("```python") + 3)]
    assert re.findall(r"^(?:from|import) (\S+)", code, flags=re.M) == ["climnorm"]
    used = set(re.findall(r"climnorm\.(\w+)", code))
    assert used <= set(climnorm.__all__), used - set(climnorm.__all__)


def test_the_public_names_are_the_lazy_ones() -> None:
    import climnorm

    assert set(climnorm.__all__) == {"__version__", *climnorm._PUBLIC}


def test_no_stage_branches_on_a_product_name() -> None:
    """Products are looked up (climnorm.products); only the pictures choose by name what to draw (the report's
    change plots show the daily normals, a cycle draws the smoothed twin over them). The catalog's "daily" is a
    file's frequency, not a product."""
    from climnorm.products import product_names

    names = set(product_names())
    found = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        if rel.parts[0] in ("products", "pictures", "catalog"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                operands = [node.left, *node.comparators]
                consts = {
                    c.value
                    for o in operands
                    for c in ([o] if isinstance(o, ast.Constant) else getattr(o, "elts", []))
                    if isinstance(c, ast.Constant)
                }
                if consts & names:
                    found.append(f"{rel}:{node.lineno}")
    assert found == []
