"""The map is true: data flows one way (docs/architecture.md). Earlier stages never import later ones, the
vocabulary imports no stage, and nothing imports in a circle; every import counts, at module level, inside a
function or for type checking only."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "climnorm"

#: The vocabulary every stage shares (rank 0); then the stage packages in the order data flows through them, with
#: the edges (storage, progress) before the stages that use them and the façade (`climnorm/__init__.py`) last.
VOCABULARY = frozenset(
    {"_atomic", "_extras", "_memory", "_ranges", "_version", "calendars", "errors", "events", "records"}
    | {"regions", "types", "units"}
)
STAGES = (
    ("storage", "progress"),
    ("numerics",),
    ("products",),
    ("config",),
    ("catalog",),
    ("plan",),
    ("read",),
    ("write",),
    ("outputs",),
    ("zonal",),
    ("engines",),
    ("runner",),
    ("pictures",),
    ("synth",),
    ("cli",),
)
RANK = {name: rank for rank, names in enumerate(STAGES, start=1) for name in names}
FACADE = len(STAGES) + 1


def part(module: str) -> str:
    """The vocabulary module or stage package a ``climnorm.…`` module belongs to ("" for the façade)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def rank(module: str) -> int:
    name = part(module)
    if name == "":
        return FACADE
    if name in VOCABULARY:
        return 0
    return RANK[name]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every climnorm module a source file imports, anywhere in it."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("climnorm")}
        elif isinstance(node, ast.ImportFrom) and node.module == "climnorm":
            for a in node.names:  # a submodule, or a name of the façade
                found.add("climnorm._version" if a.name == "__version__" else f"climnorm.{a.name}")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("climnorm"):
            found.add(node.module)
    return found


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports(p) for p in SRC.rglob("*.py")}


def upward(edges: dict[str, set[str]]) -> list[str]:
    """Each import of a later stage (or of any stage from the vocabulary), as "importer -> imported"."""
    bad = []
    for module, targets in sorted(edges.items()):
        for target in sorted(targets):
            if rank(target) > rank(module) or (rank(module) == 0 and rank(target) > 0):
                bad.append(f"{module} -> {target}")
    return bad


def test_every_module_belongs_to_the_vocabulary_or_a_stage() -> None:
    unknown = {module for module in graph() if part(module) not in VOCABULARY | set(RANK) | {""}}
    assert not unknown, f"modules outside the map (docs/architecture.md): {sorted(unknown)}"


def test_imports_go_from_later_stages_to_earlier_ones_only() -> None:
    assert upward(graph()) == []


def test_the_check_sees_an_upward_import() -> None:
    """A plan module importing the runner, and the vocabulary importing a stage, are what the check refuses."""
    edges = {"climnorm.plan.build": {"climnorm.runner.pipeline"}, "climnorm.types": {"climnorm.numerics.sums"}}
    assert upward(edges) == [
        "climnorm.plan.build -> climnorm.runner.pipeline",
        "climnorm.types -> climnorm.numerics.sums",
    ]


def test_no_import_circle_between_packages() -> None:
    """Within a stage modules may use each other, but no stage package (or vocabulary module) reaches itself
    again through another."""
    between: dict[str, set[str]] = defaultdict(set)
    for module, targets in graph().items():
        for target in targets:
            if part(target) != part(module):
                between[part(module)].add(part(target))

    def reaches(start: str) -> set[str]:
        seen: set[str] = set()
        todo = list(between[start])
        while todo:
            node = todo.pop()
            if node not in seen:
                seen.add(node)
                todo.extend(between[node])
        return seen

    circles = sorted(name for name in list(between) if name in reaches(name))
    assert circles == []
