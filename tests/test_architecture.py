"""The package's shape: no import cycles between modules, no ``_private`` name used outside its module,
and the stages of the data flow depend only on earlier stages (policies -> problems -> ... -> report -> cli)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "pgexp"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in ROOT.rglob("*.py")}


def is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports(path: Path, *, top_level_only: bool, runtime_only: bool) -> list[tuple[str, list[str]]]:
    """``(module, names)`` of every ``import``/``from ... import`` in ``path`` (module level only when asked:
    an import inside a function runs when called, which is how the CLI keeps start-up light; ``runtime_only``
    leaves out the imports under ``if TYPE_CHECKING:``, which never run and serve annotations only)."""
    tree = ast.parse(path.read_text())
    if top_level_only:
        nodes = [n for n in tree.body if not (runtime_only and is_type_checking(n))]
    else:
        nodes, todo = [], list(ast.iter_child_nodes(tree))
        while todo:
            node = todo.pop()
            if runtime_only and is_type_checking(node):  # its `else:` branch does run
                todo += node.orelse
                continue
            nodes.append(node)
            todo += ast.iter_child_nodes(node)
    out = []
    pkg = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in nodes:
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(pkg.split(".")[: len(pkg.split(".")) - node.level + 1] + ([base] if base else []))
            out.append((base, [a.name for a in node.names]))
    return out


def resolve(target: str, names: list[str]) -> list[str]:
    """The pgexp modules an import loads: ``from pkg import mod`` loads ``pkg.mod`` too."""
    if not target.startswith("pgexp"):
        return []
    mods = [target] if target in MODULES else []
    mods += [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
    return mods


def test_no_private_name_is_imported_from_another_module():
    offences = [f"{name}: from {target} import {n}" for name, path in MODULES.items()
                for target, names in imports(path, top_level_only=False, runtime_only=False)
                if target.startswith("pgexp")
                for n in names if n.startswith("_") and not n.startswith("__")]
    assert not offences, offences


def test_no_import_cycle_between_modules():
    graph = {name: {m for t, ns in imports(path, top_level_only=True, runtime_only=True) for m in resolve(t, ns)
                    if m != name}
             for name, path in MODULES.items()}
    # a package's __init__ importing its own modules is how packages re-export; a cycle through it is real
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return [*stack[stack.index(m):], m]
            if m not in state and (cycle := visit(m)):
                return cycle
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            cycle = visit(n)
            assert cycle is None, " -> ".join(cycle)


# Each stage may use the stages before it (and the shared modules), never one after it, at run time (an import
# for annotations only, under `if TYPE_CHECKING:`, is not a dependency).  The order is the data flow:
# policies (features, parameterisations) read only sizes and features off the MDP they are given; problems
# build MDPs and compose one with a policy and theta (Problem); sampling draws a problem's trajectories;
# estimators turn a batch into a gradient; exact computes the estimators' moments; runs execute estimation and
# training jobs (and the estimator checks, which run estimates); analysis computes metrics from their tables;
# audit compares practice choices through those metrics; figures draw the tables; study turns a config into
# jobs and defines the paper studies; report writes everything up (the paper studies' pages included); bench
# times the stages; cli calls them all.
STAGES = ["policies", "problems", "sampling", "estimators", "exact", "runs", "analysis", "audit", "figures",
          "study", "report", "bench", "cli"]


@pytest.mark.parametrize("stage", STAGES)
def test_stages_depend_only_on_earlier_stages(stage):
    later = set(STAGES[STAGES.index(stage) + 1:])
    offences = [f"{name} imports {t}" for name, path in MODULES.items() if name.split(".")[1:2] == [stage]
                for t, _ in imports(path, top_level_only=False, runtime_only=True)
                if t.startswith("pgexp.") and t.split(".")[1] in later]
    assert not offences, offences
