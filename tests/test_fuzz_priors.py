"""Fuzzing the prior loader: any file either loads into finite, in-domain inputs or fails cleanly.

Every case starts from the valid ``minimal_tree()`` and mutates it (wrong types, missing and extra
keys, NaN/inf/huge/tiny/negative numbers, random distribution tables, empty tables, unicode keys,
deep nesting, correlation blocks), or mutates its TOML text (truncation, garbage, duplicate lines,
invalid UTF-8, deeply nested arrays), or builds an include graph (cycles, self-includes, missing
files, folders, non-strings). The property: :func:`load_priors` either

* returns priors whose every input has a NaN-free support and finite quantiles (float32, as the
  simulation draws them) inside the parameter's domain, whose schedules and matrices are finite, and
  whose resolved tree written as TOML (what a run folder stores for ``mc-engine rerun``) loads again
  to the same digest; or
* raises :class:`PriorError` whose every problem names the file and a key (a file that is not TOML at
  all, or not UTF-8, has no key: its problem names the line instead),

never another exception and never a hang (each case has a 20 s alarm).

The default profile runs ``FUZZ_EXAMPLES`` = 1,000 tree mutations plus 40 % as many text mutations
and 20 % as many include graphs, derandomized (the same cases every run). Set
``MC_ENGINE_FUZZ_EXAMPLES=20000`` for a long run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import re
import signal
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pytest
import tomli_w
from conftest import minimal_tree
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mc_engine
from mc_engine import PriorError, PriorWarning, load_priors
from mc_engine._paramspec import DOMAIN_BOUNDS, REGIMES
from mc_engine.engine.ppf import quantiles
from mc_engine.inputs.distributions import FAMILIES, structure, support
from mc_engine.model import KINDS, SECTIONS
from mc_engine.model.state import DT
from mc_engine.output.runs import _dated, _plain

FUZZ_EXAMPLES = int(os.environ.get("MC_ENGINE_FUZZ_EXAMPLES", "1000"))
FUZZ = settings(derandomize=True, max_examples=FUZZ_EXAMPLES, deadline=None, database=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TEXT_FUZZ = settings(FUZZ, max_examples=max(1, FUZZ_EXAMPLES * 2 // 5))
INCLUDE_FUZZ = settings(FUZZ, max_examples=max(1, FUZZ_EXAMPLES // 5))
CASE_SECONDS = 20
MAX_QUANTILE_STRUCTURES = 48
"""Distinct distribution structures whose quantiles are compiled (each costs 0.1-1.5 s); others get
the support check only. Derandomized, so the same structures are checked every run."""

COUNTS: dict[str, int] = {"cases": 0, "loaded": 0, "rejected": 0, "quantile_checks": 0}
_CHECKED_STRUCTURES: set[Any] = set()
SPEC_BY_NAME = {s.name: s for specs in (*SECTIONS.values(), *KINDS.values()) for s in specs}


# --------------------------------------------------------------------------- the property


@contextlib.contextmanager
def _alarm(seconds: int) -> Iterator[None]:
    """Fail a case that runs longer than ``seconds`` (a hang) instead of blocking the suite."""

    def on_alarm(signum, frame):  # noqa: ANN001
        raise TimeoutError(f"load_priors ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _baseline() -> dict[str, Any]:
    path = Path(tempfile.mkdtemp(prefix="fuzz-base-")) / "minimal.toml"
    path.write_bytes(tomli_w.dumps(minimal_tree()).encode())
    return dict(load_priors(path).inputs)


BASELINE_DISTS = {name: inp.dist for name, inp in _baseline().items()}


def _spec_of(input_name: str):  # noqa: ANN202
    parts = input_name.split(".")
    for part in reversed(parts):
        if part in SPEC_BY_NAME:
            return SPEC_BY_NAME[part]
    raise AssertionError(f"input {input_name} matches no parameter declaration")


def _check_input(name: str, dist: Any) -> None:
    """Support NaN-free; quantiles finite in float32 and inside the parameter's domain."""
    lo, hi = support(dist)
    assert not (math.isnan(lo) or math.isnan(hi)), f"{name}: support {lo, hi} of {dist}"
    assert lo <= hi, f"{name}: empty support {lo, hi} of {dist}"
    key = structure(dist)
    if key not in _CHECKED_STRUCTURES:
        if len(_CHECKED_STRUCTURES) >= MAX_QUANTILE_STRUCTURES:
            return
        _CHECKED_STRUCTURES.add(key)
    COUNTS["quantile_checks"] += 1
    q = np.asarray(quantiles(dist, (1e-7, 0.01, 0.5, 0.99, 1 - 1e-7)))
    assert np.all(np.isfinite(q)), f"{name}: quantiles {q} of {dist} are not finite"
    assert np.all(np.diff(q) >= 0), f"{name}: quantiles {q} of {dist} decrease"
    domain = _spec_of(name).domain
    d_lo, d_hi, allowed = DOMAIN_BOUNDS[domain]
    assert d_lo <= q[0] and q[-1] <= d_hi, f"{name}: quantiles {q} of {dist} leave {allowed}"
    if domain == "positive":
        assert q[0] > 0, f"{name}: quantile {q[0]} of {dist} is not > 0"
    if domain == "unit_open":
        assert q[0] > 0 and q[-1] < 1, f"{name}: quantiles {q} of {dist} reach 0 or 1"
    if _spec_of(name).minimum is not None:
        assert q[0] >= np.float32(DT), f"{name}: quantile {q[0]} of {dist} is below one quarter"


def check_file(path: Path, require_sources: bool) -> None:
    """The fuzz property for one prior file."""
    COUNTS["cases"] += 1
    try:
        with _alarm(CASE_SECONDS), warnings.catch_warnings():
            warnings.simplefilter("ignore", PriorWarning)
            priors = load_priors(path, require_sources=require_sources)
    except PriorError as exc:
        COUNTS["rejected"] += 1
        assert exc.problems, "a PriorError lists at least one problem"
        for problem in exc.problems:
            assert problem.file is not None, f"problem without a file: {problem}"
            assert problem.message, f"problem without a message: {problem}"
            if problem.key:
                assert str(problem).startswith(f"{problem.file}: {problem.key}: "), str(problem)
            else:  # a file that is not TOML at all has no key: the message says where instead
                assert re.search(r"at line \d+|at end of document", problem.message), f"no key, no line: {problem}"
                assert str(problem).startswith(f"{problem.file}: "), str(problem)
        return
    COUNTS["loaded"] += 1
    for name, inp in priors.inputs.items():
        if BASELINE_DISTS.get(name) != inp.dist:
            _check_input(name, inp.dist)
    for name, values in priors.schedules.items():
        assert all(math.isfinite(v) and v >= 0 for v in values), f"{name}: {values}"
    for array in (priors.regime_initial, priors.regime_transition, priors.counterparty):
        assert np.all(np.isfinite(array))
    if priors.correlation is not None:
        assert np.all(np.isfinite(priors.correlation.pearson))
    # The resolved priors, written as TOML the way a run folder stores them, load again unchanged.
    again = path.parent / "resolved-again.toml"
    again.write_bytes(tomli_w.dumps(_dated(_plain(priors.resolved))).encode())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PriorWarning)
        assert load_priors(again, require_sources=require_sources).digest == priors.digest


# --------------------------------------------------------------------------- strategies

EXTREMES = (
    math.nan, math.inf, -math.inf, 0.0, -0.0, -1.0, 1.0, 0.5, 1e308, -1e308, 1e39, -1e39, 3.5e38,
    1e30, 1e-30, 1e-39, 1e-45, 5e-324, -1e-300, 2.0**63, 1e15, 709.0, 89.0, 1e-7,
)
numbers = st.one_of(
    st.floats(-10, 10),
    st.sampled_from(EXTREMES),
    st.floats(),
    st.integers(-(10**20), 10**20),
    st.sampled_from([0, 1, -1, 2**63 - 1, -(2**63), 10**400]),
)
positive_numbers = st.one_of(st.floats(1e-3, 20), st.sampled_from(EXTREMES))
magnitudes = st.builds(lambda m, e, sign: sign * m * 10.0**e, st.floats(0.1, 10), st.integers(-45, 40),
                       st.sampled_from([1.0, 1.0, -1.0]))
SCALES = ("sd", "sigma", "alpha", "beta", "lamb", "median")


def _tidy(form: dict[str, Any]) -> dict[str, Any]:
    """Make a form structurally valid (scales > 0, lo <= mode <= hi) while keeping its magnitudes."""
    for k in SCALES:
        if isinstance(form.get(k), float) and math.isfinite(form[k]):
            form[k] = abs(form[k]) or 1.0
    ends = [k for k in ("lo", "mode", "hi") if isinstance(form.get(k), float) and math.isfinite(form[k])]
    values = sorted(form[k] for k in ends)
    if len(values) >= 2 and values[0] == values[-1]:
        values[-1] = values[0] + 1.0
    form.update(zip(ends, values, strict=True))
    return form
keys = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", " ", ".", "dist", "value", "ci90", "source", "as_of", "kind", "include", "note",
                     "unknown", "boom", "weight", "bounds", "ünïcødé", "名前", "🙂", "a.b", "\\", "\"", "\n"]),
)
scalars = st.one_of(
    numbers,
    st.booleans(),
    st.text(max_size=20),
    st.dates(),
    st.datetimes(),
    st.times(),
    st.lists(numbers, max_size=4),
    st.lists(st.text(max_size=5), max_size=3),
    st.just({}),
)
PARAM_KEYS = ("value", "mean", "sd", "median", "mu", "sigma", "alpha", "beta", "lo", "hi", "mode", "lamb",
              "ci90", "bounds", "weight", "components", "source", "as_of", "note", "unknown", "dist")


@st.composite
def forms(draw, depth: int = 0, tidy: bool = False, unit: bool = False) -> Any:
    """A distribution table: a well-formed family with random (often extreme) numbers, sometimes broken."""
    if tidy:
        family = draw(st.sampled_from([*FAMILIES, "ci90"]))
        num = draw(st.sampled_from([st.floats(0, 1)] * 3 + [magnitudes] if unit else
                                   [st.floats(-5, 5), st.floats(0.01, 5), magnitudes]))
    else:
        family = draw(st.sampled_from([*FAMILIES, "ci90", "gamma", "", "Normal"]))
        num = draw(st.sampled_from([numbers, positive_numbers, st.floats(-5, 5), magnitudes]))
    form: dict[str, Any]
    if family == "point":
        form = {"value": draw(num)}
    elif family == "ci90":
        form = {"ci90": draw(st.lists(num, min_size=2 if tidy else 0, max_size=2 if tidy else 3))}
    elif family == "normal":
        form = {"dist": family, "mean": draw(num), "sd": draw(num)}
    elif family == "lognormal":
        where = draw(st.sampled_from(["median", "mu"] if tidy else ["median", "mu", "both", "none"]))
        form = {"dist": family, "sigma": draw(num)}
        if where in ("median", "both"):
            form["median"] = draw(num)
        if where in ("mu", "both"):
            form["mu"] = draw(num)
    elif family == "beta":
        form = {"dist": family, "alpha": draw(num), "beta": draw(num)}
        if draw(st.booleans()):
            form |= {"lo": draw(num), "hi": draw(num)}
    elif family == "uniform":
        form = {"dist": family, "lo": draw(num), "hi": draw(num)}
    elif family in ("triangular", "pert"):
        form = {"dist": family, "lo": draw(num), "mode": draw(num), "hi": draw(num)}
        if family == "pert" and draw(st.booleans()):
            form["lamb"] = draw(num)
    elif family == "mixture":
        simple = st.sampled_from(["point", "normal", "lognormal", "uniform"])
        components = []
        count = draw(st.integers(2, 3) if tidy else st.integers(0, 3))
        for _ in range(count):
            kind = draw(simple) if depth == 0 else "point"
            comp = draw(forms(depth + 1)) if depth == 0 and draw(st.integers(0, 9)) == 0 else _plain_form(draw, kind)
            if tidy:
                comp["weight"] = 0.5 if count == 2 else 0.25
            elif isinstance(comp, dict):
                comp["weight"] = draw(st.one_of(st.just(None), st.sampled_from([0.5, 0.25, 0.75, 1.0]), numbers))
                if comp["weight"] is None:
                    del comp["weight"]
            components.append(comp)
        if tidy and count == 3:
            components[-1]["weight"] = 0.5
        form = {"dist": family, "components": components}
    else:
        form = {"dist": family, **draw(st.dictionaries(st.sampled_from(PARAM_KEYS), numbers, max_size=3))}
    if tidy or draw(st.booleans()):
        form = _tidy(form)
        ci90 = form.get("ci90")
        if isinstance(ci90, list) and len(ci90) == 2 and all(isinstance(v, float) for v in ci90):
            form["ci90"] = sorted(form["ci90"])
    if tidy and draw(st.integers(0, 3)) == 0:
        lo, hi = sorted(draw(st.lists(num, min_size=2, max_size=2, unique=True)))
        form["bounds"] = draw(st.sampled_from([[lo, hi], [lo, math.inf], [-math.inf, hi]]))
    elif not tidy and draw(st.integers(0, 3)) == 0:
        form["bounds"] = draw(st.one_of(st.lists(num, min_size=2, max_size=2),
                                        st.sampled_from([[0, 1], [0, math.inf], [-math.inf, 0], [1e-9, 1e9]]),
                                        st.lists(num, max_size=3)))
    if not tidy and draw(st.integers(0, 5)) == 0:
        form[draw(st.sampled_from(PARAM_KEYS))] = draw(scalars)
    if not tidy and draw(st.integers(0, 7)) == 0:
        form.pop(draw(st.sampled_from(sorted(form))), None)
    return form


def _plain_form(draw, kind: str) -> dict[str, Any]:  # noqa: ANN001
    num = st.floats(-3, 3)
    pos = st.floats(0.01, 3)
    if kind == "point":
        return {"value": draw(num)}
    if kind == "normal":
        return {"dist": "normal", "mean": draw(num), "sd": draw(pos)}
    if kind == "lognormal":
        return {"dist": "lognormal", "median": draw(pos), "sigma": draw(pos)}
    lo = draw(num)
    return {"dist": "uniform", "lo": lo, "hi": lo + draw(pos)}


def values() -> st.SearchStrategy[Any]:
    per_regime = st.fixed_dictionaries({r: forms() for r in REGIMES})
    return st.one_of(forms(), scalars, per_regime)


@st.composite
def paths_into(draw, tree: dict[str, Any]) -> tuple[str, ...]:
    """A key path into ``tree``, descending three times in four at each table."""
    path: list[str] = []
    node: Any = tree
    while isinstance(node, dict) and node and draw(st.integers(0, 3)) > 0:
        key = draw(st.sampled_from(sorted(node)))
        path.append(key)
        node = node[key]
    return tuple(path)


def _parent(tree: dict[str, Any], path: tuple[str, ...]) -> tuple[Any, str | None]:
    node: Any = tree
    for k in path[:-1]:
        node = node[k]
    return node, (path[-1] if path else None)


@st.composite
def correlations(draw, tree: dict[str, Any]) -> dict[str, Any]:
    """Make a few market inputs uncertain and correlate them (or names that do not exist)."""
    names = sorted(tree["market"]) if isinstance(tree.get("market"), dict) and tree["market"] else ["algo_gain"]
    chosen = draw(st.lists(st.sampled_from(names), min_size=0, max_size=4))
    if isinstance(tree.get("market"), dict):
        for n in chosen:
            if draw(st.booleans()):
                tree["market"][n] = {"ci90": [0.1, 0.9]} if n.startswith("utilisation") else {"ci90": [-1, 1]}
    k = len(chosen) + draw(st.sampled_from([0, 0, 0, 1, -1]))
    entry = st.one_of(st.floats(-1, 1), st.sampled_from([0.0, 0.99, -0.99, 1.0, -1.0, 1.5]), numbers)
    rows = [[draw(entry) for _ in range(max(k, 0))] for _ in range(max(k, 0))]
    if draw(st.booleans()):  # usually a symmetric unit-diagonal matrix, so the PSD repair runs
        for i in range(len(rows)):
            for j in range(len(rows)):
                rows[i][j] = 1.0 if i == j else rows[min(i, j)][max(i, j)]
    return {"inputs": [f"market.{n}" for n in chosen], "matrix": rows}


def _parameter_paths() -> list[tuple[str, ...]]:
    """Where the minimal tree holds a scalar input: market, funding per regime, kind defaults."""
    tree = minimal_tree()
    out: list[tuple[str, ...]] = []
    for section in SECTIONS:
        for name, val in tree[section].items():
            out += [(section, name, r) for r in REGIMES] if isinstance(val, dict) else [(section, name)]
    for kind, body in tree["kinds"].items():
        out += [("kinds", kind, name) for name, val in body.items() if not isinstance(val, dict | list)]
    return out


PARAMETER_PATHS = _parameter_paths()


@st.composite
def mutated_trees(draw) -> dict[str, Any]:
    tree = minimal_tree()
    if draw(st.integers(0, 3)) > 0:  # tidy distributions on real parameters: many load, so draws get checked
        for _ in range(draw(st.integers(1, 3))):
            section, *middle, last = draw(st.sampled_from(PARAMETER_PATHS))
            node = tree[section]
            for k in middle:
                node = node[k]
            domain = _spec_of(".".join((section, *middle, last))).domain
            node[last] = draw(forms(tidy=True, unit=domain in ("prob", "unit_open")))
        if draw(st.integers(0, 3)) == 0:
            tree["correlation"] = draw(correlations(tree))
        return tree
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["replace", "replace", "form", "form", "delete", "add", "empty", "nest",
                                   "include", "correlation", "per_regime"]))
        if op == "correlation":
            tree["correlation"] = draw(correlations(tree))
            continue
        if op == "include":
            tree["include"] = draw(st.one_of(scalars, st.sampled_from(["", ".", "missing.toml", "minimal.toml"])))
            continue
        path = draw(paths_into(tree))
        parent, key = _parent(tree, path)
        if key is None:
            if op == "empty":
                tree = {}
            continue
        if op == "replace":
            parent[key] = draw(scalars)
        elif op == "form":
            parent[key] = draw(forms())
        elif op == "per_regime":
            parent[key] = draw(values())
        elif op == "delete":
            del parent[key]
        elif op == "add":
            target = parent[key] if isinstance(parent[key], dict) else parent
            target[draw(keys)] = draw(values())
        elif op == "empty":
            parent[key] = {}
        elif op == "nest":
            depth = draw(st.sampled_from([1, 2, 5, 40, 200]))
            node = parent[key]
            for _ in range(depth):
                node = {draw(keys): node}
            parent[key] = node
    return tree


def _minimal_text() -> str:
    return tomli_w.dumps(minimal_tree())


@st.composite
def mutated_texts(draw) -> bytes:
    text = _minimal_text()
    lines = text.splitlines(keepends=True)
    op = draw(st.sampled_from(["truncate", "insert", "delete_line", "duplicate_line", "garbage_line",
                               "bad_utf8", "deep_array", "deep_table", "deep_dotted", "swap", "nul"]))
    where = draw(st.integers(0, len(text)))
    line = draw(st.integers(0, len(lines) - 1))
    if op == "truncate":
        return text[:where].encode()
    if op == "insert":
        return (text[:where] + draw(st.text(max_size=30)) + text[where:]).encode()
    if op == "delete_line":
        return "".join(lines[:line] + lines[line + 1 :]).encode()
    if op == "duplicate_line":
        return "".join(lines[: line + 1] + lines[line:]).encode()
    if op == "garbage_line":
        garbage = draw(st.sampled_from(["[", "]]", "= 1", "x =", "[market]", "a = [1, 2", "a = {", "\"\"\" ",
                                        "x = 1e999", "x = nan", "x = 1979-05-27T07:32:00Z", "x = 99999999999999999999",
                                        "[[companies]]", "companies = 3", "ü = 1"]))
        return "".join([*lines[:line], garbage + "\n", *lines[line:]]).encode()
    if op == "bad_utf8":
        data = text.encode()
        return data[:where] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80\x80"])) + data[where:]
    if op == "deep_array":
        depth = draw(st.sampled_from([50, 900, 5000]))
        return (text + "deep = " + "[" * depth + "1" + "]" * depth + "\n").encode()
    if op == "deep_table":
        depth = draw(st.sampled_from([50, 900, 3000]))
        return (text + "deep = " + "{ a = " * depth + "1" + " }" * depth + "\n").encode()
    if op == "deep_dotted":
        depth = draw(st.sampled_from([50, 900, 3000]))
        section = draw(st.sampled_from(["", "[market]\n", "[companies.alab]\n"]))
        return (text + section + "a." * depth + "a = 1\n").encode()
    if op == "swap":
        i = draw(st.integers(0, max(0, len(text) - 2)))
        return (text[:i] + text[i + 1 : i + 2] + text[i : i + 1] + text[i + 2 :]).encode()
    return (text[:where] + "\x00" + text[where:]).encode()


# --------------------------------------------------------------------------- the fuzz tests


@FUZZ
@given(tree=mutated_trees(), require_sources=st.booleans())
def test_mutated_prior_trees_load_or_fail_cleanly(tree, require_sources):
    with tempfile.TemporaryDirectory(prefix="fuzz-") as folder:
        path = Path(folder) / "priors.toml"
        (Path(folder) / "minimal.toml").write_bytes(_minimal_text().encode())
        try:
            data = tomli_w.dumps(tree).encode()
        except (TypeError, ValueError, RecursionError):
            data = b"unwritable = ["  # tomli_w cannot write it: broken TOML instead
        path.write_bytes(data)
        check_file(path, require_sources)


@TEXT_FUZZ
@given(data=mutated_texts(), require_sources=st.booleans())
def test_mutated_prior_texts_load_or_fail_cleanly(data, require_sources):
    with tempfile.TemporaryDirectory(prefix="fuzz-") as folder:
        path = Path(folder) / "priors.toml"
        path.write_bytes(data)
        check_file(path, require_sources)


@st.composite
def include_graphs(draw) -> list[tuple[str, Any]]:
    """Files f0..f3: f0 is the root; each includes others (cycles allowed), missing files or junk."""
    n = draw(st.integers(1, 4))
    names = [f"f{i}.toml" for i in range(n)]
    targets = st.one_of(st.sampled_from(names), st.sampled_from(["missing.toml", ".", "", "sub/../f0.toml",
                                                                 "sub", "a\\b.toml", "../"]))
    files = []
    for i in range(n):
        include = draw(st.one_of(st.lists(targets, max_size=3), targets, scalars))
        files.append((names[i], include))
    return files


@INCLUDE_FUZZ
@given(graph=include_graphs(), body=st.sampled_from(["full", "root", "empty"]))
def test_include_graphs_load_or_fail_cleanly(graph, body):
    with tempfile.TemporaryDirectory(prefix="fuzz-") as folder:
        root = Path(folder)
        (root / "sub").mkdir()
        for i, (name, include) in enumerate(graph):
            tree: dict[str, Any] = minimal_tree() if body == "full" or (body == "root" and i == 0) else {}
            tree["include"] = include
            try:
                data = tomli_w.dumps(tree).encode()
            except (TypeError, ValueError):
                data = b"include = ["
            (root / name).write_bytes(data)
        check_file(root / "f0.toml", require_sources=False)


def test_fuzz_counts_report():
    """Print how many cases ran (pytest -s shows it); runs last in this module."""
    print(f"\nfuzz: {COUNTS}, {len(_CHECKED_STRUCTURES)} distribution structures compiled")
    if COUNTS["cases"]:
        assert COUNTS["loaded"] > 0 and COUNTS["rejected"] > 0, "both outcomes are exercised"


# --------------------------------------------------------------------------- explicit cases, sampled


def _explicit_tree() -> dict[str, Any]:
    """Valid priors at the edges of what validation allows, one input each."""
    tree = minimal_tree()
    market = tree["market"]
    market["hardware_decline"] = {"dist": "lognormal", "median": 1e-20, "sigma": 1.0}
    market["algo_gain"] = {"dist": "normal", "mean": 0.0, "sd": 1e13}
    market["reasoning_growth"] = {"dist": "mixture", "components": [
        {"weight": 0.5, "value": -3.0}, {"weight": 0.5, "dist": "lognormal", "median": 2.0, "sigma": 2.0}]}
    market["utilisation0"] = {"dist": "beta", "alpha": 1.5, "beta": 1.5}
    market["utilisation_mean"] = {"dist": "uniform", "lo": 1e-5, "hi": 1 - 1e-5}
    market["price_elasticity"] = {"dist": "normal", "mean": 0.5, "sd": 3.0, "bounds": [0, math.inf]}
    market["demand_vol"] = {"dist": "pert", "lo": 0.0, "mode": 0.0, "hi": 1.0}
    neocloud = tree["kinds"]["neocloud"]
    neocloud["useful_life"] = {"dist": "lognormal", "median": 4.0, "sigma": 3.0, "bounds": [0.25, 40]}
    neocloud["contract_tau"] = {"dist": "triangular", "lo": 0.5, "mode": 0.5, "hi": 4.0}
    neocloud["contract_price"] = {"dist": "beta", "alpha": 1.0, "beta": 0.3, "lo": 0.01, "hi": 3.0}
    tree["kinds"]["lab"]["tenor"] = {"ci90": [1.0, 10.0], "bounds": [0.25, 1e3]}
    tree["kinds"]["hyperscaler"]["raise_odds"] = {"ci90": [1e-3, 1e3]}
    tree["funding"]["raise_prob"]["winter"] = {"dist": "normal", "mean": 0.5, "sd": 1.0, "bounds": [0, 1]}
    return tree


def test_explicit_edge_priors_sample_finite_values_inside_their_domains(tmp_path):
    path = tmp_path / "edges.toml"
    path.write_bytes(tomli_w.dumps(_explicit_tree()).encode())
    priors = load_priors(path)
    n = 512
    draws = mc_engine.compile_sampler(priors, block_size=256).sample_inputs(jax.random.key(7), n)
    for name, x in draws.items():
        x = np.asarray(x)
        assert x.shape == (n,) and np.all(np.isfinite(x)), name
        d_lo, d_hi, allowed = DOMAIN_BOUNDS[_spec_of(name).domain]
        assert np.all((x >= d_lo) & (x <= d_hi)), f"{name} leaves {allowed}: {x.min()} .. {x.max()}"
        if _spec_of(name).domain == "positive":
            assert x.min() > 0, name
        if _spec_of(name).domain == "unit_open":
            assert x.min() > 0 and x.max() < 1, name
        if _spec_of(name).minimum is not None:
            assert x.min() >= np.float32(DT), name


@pytest.mark.parametrize(
    ("param", "form", "message"),
    [
        ("market.utilisation0", {"dist": "uniform", "lo": 0.0, "hi": 1.0}, "strictly between 0 and 1"),
        ("market.utilisation0", {"dist": "beta", "alpha": 0.05, "beta": 2.0}, "strictly between 0 and 1"),
        ("kinds.neocloud.useful_life", {"dist": "normal", "mean": 4, "sd": 1, "bounds": [0, 10]}, "> 0"),
        ("kinds.neocloud.useful_life", {"dist": "triangular", "lo": 0, "mode": 0, "hi": 6}, "> 0"),
        ("kinds.neocloud.useful_life", {"value": 1e-40}, "float32"),
        ("kinds.neocloud.useful_life", {"value": 0.1}, "below 0.25 yr"),
        ("kinds.hyperscaler.tenor", {"ci90": [0.5, 10.0]}, "below 0.25 yr"),
        ("kinds.neocloud.contract_tau", {"dist": "lognormal", "median": 1e-16, "sigma": 0.1}, "float32"),
        ("market.algo_gain", {"dist": "normal", "mean": 0.0, "sd": 1e16}, "float32"),
        ("market.algo_gain", {"dist": "triangular", "lo": -1e20, "mode": 0, "hi": 1e20}, "float32"),
        ("market.algo_gain", {"ci90": [-1e308, 1e308]}, "float32"),
        ("market.algo_gain", {"dist": "lognormal", "mu": 30.0, "sigma": 1.0}, "float32"),
        ("market.utilisation0", {"dist": "beta", "alpha": 0.6, "beta": 0.6}, "strictly between 0 and 1"),
        ("market.algo_gain", {"dist": "uniform", "lo": 0, "hi": 1, "bounds": [5, 6]}, "leave out all"),
        ("market.algo_gain", {"value": 10**400}, "must be a number"),
        ("market.algo_gain", {"dist": "normal", "mean": 0, "sd": 2.3e-145, "bounds": [0, 1]}, "too narrow"),
        ("funding.round_size.boom", {"dist": "triangular", "lo": 1, "mode": 1, "hi": 3e8}, "> 0"),
        ("market.algo_gain", {"dist": "uniform", "lo": 1, "hi": 1.0000000001, "bounds": [1, 2]}, "too narrow"),
        ("market.algo_gain", {"dist": "mixture", "components": [{"weight": 1.0, "value": 1}]}, "at least 2"),
        ("kinds.neocloud.useful_life", {"dist": "mixture", "components": [
            {"weight": 0.5, "value": 0.0}, {"weight": 0.5, "value": 4.0}]}, "> 0"),
    ],
)
def test_numeric_hazards_are_rejected_at_validation(tmp_path, param, form, message):
    tree = minimal_tree()
    parent = tree
    *head, last = param.split(".")
    for k in head:
        parent = parent[k]
    parent[last] = form
    path = tmp_path / "hazard.toml"
    path.write_bytes(tomli_w.dumps(tree).encode())
    with pytest.raises(PriorError) as info:
        load_priors(path)
    text = str(info.value)
    assert f"hazard.toml: {param}" in text and message in text, text


def test_deadline_does_not_fire_on_the_minimal_file(tmp_path):
    path = tmp_path / "minimal.toml"
    path.write_bytes(_minimal_text().encode())
    with _alarm(CASE_SECONDS):
        check_file(path, require_sources=True)
    assert dt.date(2026, 6, 30) == load_priors(path).as_of


def test_mixture_with_a_point_mass_at_zero_draws_zero_not_below():
    """Found by fuzzing: the bisection's bracket opens one float below the lowest component, and with
    subnormals flushed to zero it ended there (-1.4e-45 or -1.2e-38) for a point mass at 0."""
    from mc_engine.inputs.distributions import Dist

    mixture = Dist("mixture", (), (-math.inf, math.inf), (0.5, 0.5), (Dist("point", (0.0,)), Dist("uniform", (0.0, 1.0))))
    assert min(quantiles(mixture, (1e-7, 0.25, 0.5))) >= 0.0
