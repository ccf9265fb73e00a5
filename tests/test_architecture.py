"""The package's shape: no import cycles between modules (function-level imports included), no ``_private``
name used outside its module, no module over 500 lines and no function over 80, and the stages of the data
flow depend only on earlier stages (policies -> problems -> ... -> report -> cli)."""

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


def imports(path: Path, *, runtime_only: bool) -> list[tuple[str, list[str]]]:
    """``(module, names)`` of every ``import``/``from ... import`` in ``path``, at module level or inside a
    function (one there runs when called -- how the CLI keeps start-up light -- and is a dependency all the
    same); ``runtime_only`` leaves out the imports under ``if TYPE_CHECKING:``, which never run and serve
    annotations only."""
    return imports_from_tree(ast.parse(path.read_text()), path, runtime_only=runtime_only)


def imports_from_tree(tree: ast.Module, path: Path, *, runtime_only: bool) -> list[tuple[str, list[str]]]:
    """:func:`imports` of a parsed module (``path`` names it, for relative imports)."""
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
                for target, names in imports(path, runtime_only=False)
                if target.startswith("pgexp")
                for n in names if n.startswith("_") and not n.startswith("__")]
    assert not offences, offences


def import_graph() -> dict[str, set[str]]:
    """Module -> the pgexp modules it imports at run time, wherever the import is (a function-level import
    runs when the function is called and closes a cycle all the same; only ``if TYPE_CHECKING:`` imports,
    which never run, are left out)."""
    return {name: {m for t, ns in imports(path, runtime_only=True) for m in resolve(t, ns)
                   if m != name}
            for name, path in MODULES.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or ``None`` (depth-first search)."""
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
        if n not in state and (cycle := visit(n)):
            return cycle
    return None


def test_no_import_cycle_between_modules():
    # a package's __init__ importing its own modules is how packages re-export; a cycle through it is real
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


def test_the_cycle_check_sees_function_level_imports():
    """The check must fail on a cycle closed by an import inside a function (how a cycle hides)."""
    tree = ast.parse("def f():\n    from pgexp.io import write_json\n")
    assert imports_from_tree(tree, MODULES["pgexp.errors"], runtime_only=True) == [("pgexp.io", ["write_json"])]
    graph = import_graph()
    graph["pgexp.io"] |= {"pgexp.errors"}
    graph["pgexp.errors"] |= {"pgexp.io"}
    assert find_cycle(graph) is not None


MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80


def test_no_module_is_over_500_lines():
    """A module longer than this does more than one job: split it (by what its parts are for)."""
    long = {str(p.relative_to(ROOT.parent)): n for p in MODULES.values()
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long, long


def test_no_function_is_over_80_lines():
    """A function longer than this (decorators and docstring included) does several steps: name them."""
    long = {f"{p.relative_to(ROOT.parent)}:{node.lineno} {node.name}": n for p in MODULES.values()
            for node in ast.walk(ast.parse(p.read_text()))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and (n := node.end_lineno - min([node.lineno, *(d.lineno for d in node.decorator_list)]) + 1)
            > MAX_FUNCTION_LINES}
    assert not long, long


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
                for t, _ in imports(path, runtime_only=True)
                if t.startswith("pgexp.") and t.split(".")[1] in later]
    assert not offences, offences
