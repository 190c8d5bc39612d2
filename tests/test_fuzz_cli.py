"""Fuzz the command line: random options of every subcommand, hostile text through every error printer.

The property, for every case: the command ends with exit status 0 or 2 (or reaches its work, which a stub
replaces), prints no traceback, and what it prints has no raw control character (ESC, NUL, BEL) and no
markup error. Hypothesis is derandomized: the same cases every run. The default profile runs
``CLI_EXAMPLES`` option cases, as many prior files with hostile keys and values through ``priors check``
and ``run``, and as many messages through the printer; ``MC_ENGINE_FUZZ_EXAMPLES=20000`` scales them with the
loader fuzz (test_fuzz_priors.py).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
import tomli_w
import typer
import typer.main
import typer.testing
from conftest import minimal_tree
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import mc_engine
import mc_engine.output.rerun
import mc_engine.report
from mc_engine.cli import _user_errors, app, plain
from mc_engine.errors import PriorError, PriorWarning, Problem, RunError

FUZZ_EXAMPLES = int(os.environ.get("MC_ENGINE_FUZZ_EXAMPLES", "1000"))
CLI_EXAMPLES = max(1, FUZZ_EXAMPLES // 4)
CLI_FUZZ = settings(derandomize=True, max_examples=CLI_EXAMPLES, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))
COUNTS: dict[str, int] = {"option_cases": 0, "prior_cases": 0, "printer_cases": 0, "tracebacks": 0,
                          "exit_0": 0, "exit_2": 0, "reached_work": 0}

MARKUP = ["[/x]", "[bold]", "[/]", "[red]", "[/red]", "[link=x]", "[[", "]]", "\\[", "[b", "[#ff0000]", ":smile:"]
CONTROL = ["\x1b[31m", "\x00", "\x07", "\x08", "\r", "\x1b]8;;x\x1b\\", "\u202e", "\x7f", "\n"]
hostile = st.lists(st.one_of(st.sampled_from(MARKUP), st.sampled_from(CONTROL), st.text(max_size=8)),
                   max_size=5).map("".join)


class Reached(Exception):
    """The options passed every check and the command started its work."""


def _stop(*args: Any, **kwargs: Any) -> None:
    raise Reached


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fuzz-cli")
    priors = root / "minimal.toml"
    priors.write_bytes(tomli_w.dumps(minimal_tree()).encode())
    (root / "userdir").mkdir()
    (root / "userdir" / "notes.txt").write_text("mine")
    (root / "file.txt").write_text("mine")
    (root / "badrun").mkdir()
    (root / "badrun" / "manifest.json").write_text('{"status": "complete", "schema_version": 1, "run": 3}')
    (root / "badsweep").mkdir()
    (root / "badsweep" / "sweep.json").write_text("{")
    return {"priors": priors, "root": root}


@pytest.fixture(scope="module", autouse=True)
def stubbed():
    """The work of every command replaced by ``Reached`` (module-wide: hypothesis reruns the test body), and
    the click command built once, not per case."""
    command = typer.main.get_command(app)
    saved = [(mod, name, getattr(mod, name)) for mod, name in
             ((mc_engine, "simulate"), (mc_engine, "sweep"), (mc_engine.output.rerun, "rerun"),
              (mc_engine.report, "write_report"), (typer.testing, "_get_command"))]
    typer.testing._get_command = lambda _app: command
    for mod, name, _ in saved[:4]:
        setattr(mod, name, _stop)
    yield
    for mod, name, value in saved:
        setattr(mod, name, value)


def check_invoke(args: list[str]) -> Any:
    """Run the CLI; the fuzz property (exit 0/2 or the work, no traceback, no raw control characters)."""
    result = CliRunner().invoke(app, args)
    exc = result.exception
    if exc is not None and not isinstance(exc, SystemExit | Reached):
        COUNTS["tracebacks"] += 1
        raise AssertionError(f"{args!r} raised {exc!r}\n{result.output}") from exc
    assert "Traceback" not in result.output, result.output
    assert not any(c in result.output for c in "\x1b\x00\x07\x08\x7f"), repr(result.output)
    if isinstance(exc, Reached):
        COUNTS["reached_work"] += 1
    else:
        assert result.exit_code in (0, 2), (args, result.exit_code, result.output)
        COUNTS[f"exit_{result.exit_code}"] += 1
        if result.exit_code == 2:
            assert result.output.strip(), "a refusal says why"
    return result


INTS = st.one_of(st.integers(-10, 10), st.integers(-(2**70), 2**70), st.sampled_from(
    [0, 1, 8191, 8192, 16384, 2**20, 2**20 + 8192, 2**32 - 1, 2**32, 2**40, 2**40 + 1, 2**63, -(2**31)])).map(str)
FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                   st.sampled_from(["nan", "inf", "-inf", "-0", "1e999", "0", "4"]))


def _values(folders: dict[str, Path]) -> dict[str, st.SearchStrategy[str]]:
    root = folders["root"]
    paths = st.sampled_from([str(root / p) for p in ("userdir", "file.txt", "badrun", "badsweep", "absent",
                                                     "file.txt/x", "new")] + ["/dev/null", "/", ".", ""])
    return {
        "--paths": INTS, "--seed": INTS, "--horizon": INTS, "--chunk-paths": INTS, "--attribution-paths": INTS,
        "--num-processes": INTS, "--process-id": INTS,
        "--prng": st.one_of(st.sampled_from(["philox4x32", "threefry4x32", "threefry2x32", "rbg", ""]), hostile),
        "--target-se": FLOATS, "--tolerance": FLOATS,
        "--out": st.one_of(paths, hostile), "--previous": paths, "--scenario": paths,
        "--grid": st.one_of(hostile, st.builds(lambda k, v: f"{k}={v}", st.sampled_from(
            ["market.algo_gain", "companies.alab.rescue_prob", "funding.raise_prob.boom", "x"]),
            st.lists(FLOATS, min_size=0, max_size=3).map(",".join))),
        "--coordinator": st.one_of(hostile, st.sampled_from(["h:1", "h:0", ":80", "h:x"])),
    }


COMMANDS: dict[str, tuple[str, ...]] = {
    "run": ("--paths", "--seed", "--horizon", "--chunk-paths", "--prng", "--out", "--num-processes",
            "--process-id", "--coordinator"),
    "sweep": ("--paths", "--seed", "--horizon", "--chunk-paths", "--target-se", "--out", "--grid", "--scenario"),
    "rerun": ("--tolerance", "--out"),
    "report": ("--previous", "--out", "--attribution-paths"),
    "bench": ("--out",),
}


@st.composite
def command_lines(draw, folders: dict[str, Path]) -> list[str]:
    values = _values(folders)
    command = draw(st.sampled_from([*COMMANDS, "priors check", "priors show", "nosuch"]))
    root = folders["root"]
    target = draw(st.sampled_from([str(folders["priors"]), str(root / "badrun"), str(root / "userdir"),
                                   str(root / "file.txt"), str(root / "absent"), "/dev/null"]))
    args = [*command.split(), target] if command != "bench" else ["bench"]
    if command == "priors show":
        args.append(draw(st.one_of(hostile, st.sampled_from(["market.algo_gain", "market.algo_gian"]))))
    for option in draw(st.lists(st.sampled_from(COMMANDS.get(command, ("--paths",))), max_size=4)):
        args += [option, draw(values[option])]
    if command == "run" and draw(st.booleans()):
        args.append(draw(st.sampled_from(["--overwrite", "--distributed", "--allow-unsourced", "--bogus"])))
    return args


def test_cli_options_fuzz(folders):
    @CLI_FUZZ
    @given(args=command_lines(folders))
    def cases(args: list[str]) -> None:
        COUNTS["option_cases"] += 1
        check_invoke(args)

    cases()
    assert COUNTS["exit_2"] > 0 and COUNTS["reached_work"] > 0, COUNTS
    assert sorted(p.name for p in (folders["root"] / "userdir").iterdir()) == ["notes.txt"]
    assert (folders["root"] / "file.txt").read_text() == "mine"


@st.composite
def hostile_trees(draw) -> dict[str, Any]:
    tree = minimal_tree()
    tables = [tree, tree["market"], tree["companies"], tree["companies"]["alab"], tree["kinds"]["lab"],
              tree["regime"]]
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(tables))
        op = draw(st.sampled_from(["key", "value", "name", "source", "company"]))
        text = draw(hostile)
        if op == "key":
            where[text] = draw(st.one_of(hostile, st.floats(allow_nan=False), st.just({"dist": text})))
        elif op == "value" and where:
            where[draw(st.sampled_from(sorted(where)))] = text
        elif op == "name":
            tree["name"] = text
        elif op == "source":
            tree["source"] = text
        else:
            tree["companies"][text] = {"kind": draw(st.sampled_from(["lab", text]))}
    return tree


def test_hostile_prior_text_fuzz(tmp_path):
    @CLI_FUZZ
    @given(tree=hostile_trees(), command=st.sampled_from(["check", "show", "run"]))
    def cases(tree: dict[str, Any], command: str) -> None:
        COUNTS["prior_cases"] += 1
        with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
            path = Path(folder) / "p.toml"
            try:
                path.write_bytes(tomli_w.dumps(tree).encode())
            except (TypeError, ValueError):
                return
            args = {"check": ["priors", "check", str(path)], "run": ["run", str(path), "--allow-unsourced"],
                    "show": ["priors", "show", str(path), str(tree.get("name", "x"))]}[command]
            check_invoke(args)

    cases()


def test_printer_fuzz(capsys):
    """Any text in an error or a warning comes out literally (control characters escaped), exit status 2."""

    @CLI_FUZZ
    @given(text=hostile, kind=st.sampled_from(["prior", "run", "warning"]))
    def cases(text: str, kind: str) -> None:
        COUNTS["printer_cases"] += 1
        capsys.readouterr()
        with pytest.raises(typer.Exit) as exit_info, _user_errors():
            if kind == "warning":
                import warnings

                warnings.warn(text, PriorWarning, stacklevel=1)
            if kind == "prior":
                raise PriorError(Problem(Path(text.replace("\x00", "") or "f"), text, text))
            raise RunError(text)
        assert exit_info.value.exit_code == 2
        err = capsys.readouterr().err
        assert not any(c in err for c in "\x1b\x00\x07\x08\x7f"), repr(err)
        assert plain(text).strip() in err, (plain(text), err)

    cases()


def test_fuzz_cli_counts_report():
    """Print how many cases ran (pytest -s shows it); runs last in this module."""
    print(f"\nfuzz cli: {COUNTS}")
    assert COUNTS["tracebacks"] == 0
