"""The package's layers import one way: bottom modules -> inputs -> model -> engine -> output -> analysis -> report
-> cli -> the facade (docs/engine.md, "Package layers").

Every module of ``mc_engine`` is parsed with :mod:`ast`; every import in it (module level, inside functions, under
``TYPE_CHECKING``, relative or absolute) is an edge. An edge from a lower layer to a higher one, an import cycle
between modules, JAX in ``inputs/`` or a heavy optional library behind ``import mc_engine`` fails, naming the file
and line.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mc_engine"

LAYERS: tuple[str, ...] = ("bottom", "inputs", "model", "engine", "output", "analysis", "report", "cli", "facade")
"""Lowest first. A module may import its own layer and the layers below it, never one above."""

BOTTOM = {"mc_engine.errors", "mc_engine._options", "mc_engine._paramspec", "mc_engine._version", "mc_engine._sources",
          "mc_engine._schema"}
FACADES = {"mc_engine", "mc_engine.__main__", "mc_engine._accessor"}

UPWARD: dict[tuple[str, str], str] = {
    ("mc_engine.cli", "mc_engine"): "the command line is a client of the public API (tests stub the API there)",
}
"""(importing module, imported module) edges up the order that are part of the design, with the reason."""

FORBIDDEN_PAIRS: dict[tuple[str, str], str] = {
    ("model", "inputs"): "the model is pure JAX on arrays; it knows no Priors or prior files",
}
"""Layer pairs that stay apart although the order alone would allow the import."""

PENDING: set[tuple[str, str]] = set()
"""(importing module, imported module) edges that break the rules and are allowed until the change that removes them."""

HEAVY = ("matplotlib", "jinja2", "weasyprint", "scipy", "benchmarks")
"""Libraries that ``import mc_engine`` must not import (report rendering and the speed suite load them lazily)."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> str:
    """The layer of a module of the package (``mc_engine.engine.scan`` -> ``engine``)."""
    if module in FACADES:
        return "facade"
    if module in BOTTOM:
        return "bottom"
    if module == "mc_engine.cli":
        return "cli"
    top = module.split(".")[1]
    if top in LAYERS:
        return top
    raise AssertionError(f"{module} has no layer: add it to tests/test_layers.py and docs/engine.md")


def _resolve(target: str) -> str:
    """The module of the package an imported name lives in: the longest prefix of ``target`` that is a module."""
    parts = target.split(".")
    while parts:
        name = ".".join(parts)
        if name in MODULES:
            return name
        parts.pop()
    return target


def imports(module: str) -> list[tuple[int, str]]:
    """(line, imported module of the package) for every import in ``module``, at any depth."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    return [(line, target) for line, target in _imports_in(path.read_text(), package) if target != module]


def _imports_in(source: str, package: str) -> list[tuple[int, str]]:
    """(line, imported module of the package) for every import in ``source``, a module of ``package``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, _resolve(a.name)) for a in node.names if a.name.split(".")[0] == "mc_engine"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] != "mc_engine":
                continue
            for alias in node.names:  # ``from . import charts`` imports the module mc_engine.report.charts
                found.append((node.lineno, _resolve(f"{source}.{alias.name}")))
    return sorted(set(found))


def _where(module: str, line: int) -> str:
    return f"{MODULES[module].relative_to(PACKAGE.parent)}:{line}"


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        layer_of(module)


def test_imports_go_down() -> None:
    rank = {layer: i for i, layer in enumerate(LAYERS)}
    bad = []
    for module in MODULES:
        here = layer_of(module)
        for line, target in imports(module):
            there = layer_of(target)
            why = FORBIDDEN_PAIRS.get((here, there))
            if rank[there] <= rank[here] and why is None:
                continue
            if (module, target) in PENDING or (module, target) in UPWARD:
                continue
            bad.append(f"{_where(module, line)}: {module} ({here}) imports {target} ({there})"
                       + (f": {why}" if why else ": a lower layer imports a higher one"))
    assert not bad, "imports against the layer order:\n" + "\n".join(bad)


def test_pending_edges_still_exist() -> None:
    """An allowlisted edge that is gone should leave the allowlist, so that it cannot come back unnoticed."""
    edges = {(m, t) for m in MODULES for _, t in imports(m)}
    assert edges >= PENDING, f"no longer imported, remove from PENDING: {sorted(PENDING - edges)}"


def test_no_import_cycles() -> None:
    graph: dict[str, dict[str, int]] = {m: {} for m in MODULES}
    for module in MODULES:
        for line, target in imports(module):
            if target in MODULES and (module, target) not in PENDING:  # a pending edge may close a cycle
                graph[module].setdefault(target, line)
    # A package's __init__ re-exporting its own modules is not a cycle of the code: a submodule importing
    # ``from . import x`` reaches x, not the __init__. Edges into a package __init__ from inside it are dropped.
    for module in MODULES:
        if MODULES[module].name == "__init__.py":
            for other in graph:
                if other.startswith(module + ".") and module in graph[other] and module != "mc_engine":
                    del graph[other][module]
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    text = [" -> ".join(f"{m} ({_where(m, graph[m][n])})" for m, n in zip(c, c[1:], strict=False)) + f" -> {c[-1]}"
            for c in cycles]
    assert not cycles, "import cycles:\n" + "\n".join(text)


def test_inputs_import_no_jax() -> None:
    bad = []
    for module, path in MODULES.items():
        if layer_of(module) != "inputs":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            bad += [f"{_where(module, node.lineno)}: {module} imports {n}" for n in names
                    if n.split(".")[0] in {"jax", "jaxlib"}]
    assert not bad, "inputs/ is host-only (no JAX):\n" + "\n".join(bad)


def test_import_stays_light() -> None:
    code = f"import sys, mc_engine\nprint(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]", f"`import mc_engine` imports {out}"


def test_finds_every_kind_of_import() -> None:
    """The parser sees imports inside functions, under TYPE_CHECKING, relative and absolute (the checks rely on it)."""
    source = ("from typing import TYPE_CHECKING\n"
              "from ..engine import keys\n"
              "if TYPE_CHECKING:\n    from ..inputs.loader import Priors\n"
              "def f():\n    from .runs import write_run\n    import mc_engine.report.charts\n")
    found = _imports_in(source, "mc_engine.output")
    assert found == [(2, "mc_engine.engine.keys"), (4, "mc_engine.inputs.loader"), (6, "mc_engine.output.runs"),
                     (7, "mc_engine.report.charts")]
