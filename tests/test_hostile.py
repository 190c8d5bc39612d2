"""Hostile input at the command line: bad options, markup and control characters, folders that are not runs.

Every case must end in exit status 2 with a message naming the problem (or succeed), never a traceback.
Where options are valid the work itself is replaced by a stub (``Reached``): these tests are about the edge,
and they run in seconds.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import tomli_w
from conftest import REPO, minimal_tree
from typer.testing import CliRunner

import mc_engine
import mc_engine.output.rerun
import mc_engine.report
from mc_engine.cli import _pm, app, plain

MARKUP = ["[/x]", "[bold]", "[/]", "[red]x[/red]", "[link=file:///etc/passwd]x", "\x1b[31mred", "a\x00b",
          "\x07\x08\r", "[[/x]]", "\\[bold]", "[bold"]


class Reached(Exception):
    """The options passed every check and the command started its work."""


@pytest.fixture
def stubbed(monkeypatch):
    """Replace the work of every command by ``Reached``."""

    def stop(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise Reached

    monkeypatch.setattr(mc_engine, "simulate", stop)
    monkeypatch.setattr(mc_engine, "sweep", stop)
    monkeypatch.setattr(mc_engine.output.rerun, "rerun", stop)
    monkeypatch.setattr(mc_engine.report, "write_report", stop)


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> dict[str, Path]:
    """A prior file, a fake run folder (valid manifest, no numbers), a user folder and a user file."""
    root = tmp_path_factory.mktemp("hostile")
    priors = root / "minimal.toml"
    priors.write_bytes(tomli_w.dumps(minimal_tree()).encode())
    run = root / "run"
    run.mkdir()
    settings = {"seed": 1, "n_paths": 10, "horizon_quarters": 2, "prng": "philox4x32", "block_size": 8192,
                "chunk_paths": 8192}
    (run / "manifest.json").write_text(json.dumps({"schema_version": 1, "status": "complete", "files": {},
                                                   "run": settings}))
    user = root / "userdir"
    user.mkdir()
    (user / "notes.txt").write_text("mine")
    (root / "userfile.txt").write_text("mine")
    sweep = root / "badsweep"
    sweep.mkdir()
    (sweep / "sweep.json").write_text('{"fingerprint": ')
    return {"priors": priors, "run": run, "user": user, "file": root / "userfile.txt", "sweep": sweep, "root": root}


def invoke(*args: str):  # noqa: ANN201
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit | Reached):
        raise AssertionError(f"{args}: {result.exception!r}\n{result.output}") from result.exception
    assert "Traceback" not in result.output, result.output
    return result


def assert_refused(result, *needles: str) -> None:  # noqa: ANN001
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert not isinstance(result.exception, Reached), "refused only after the work started"
    for needle in needles:
        assert needle in result.output, (needle, result.output)


BAD_OPTIONS = [
    (["--prng", "foo"], ["--prng", "foo", "philox4x32"]),
    (["--prng", "[/x]"], ["--prng", "[/x]"]),
    (["--chunk-paths", "1000"], ["--chunk-paths", "1000", "multiple of the key block size"]),
    (["--chunk-paths", "8"], ["--chunk-paths", "8"]),
    (["--chunk-paths", "0"], ["--chunk-paths"]),
    (["--chunk-paths", str(2**40)], ["--chunk-paths"]),
    (["--prng", "threefry4x32", "--chunk-paths", "16384"], ["--chunk-paths", "threefry4x32"]),
    (["--paths", "0"], ["--paths", "0"]),
    (["--paths", "-5"], ["--paths", "-5"]),
    (["--paths", str(10**30)], ["--paths"]),
    (["--paths", "x"], ["--paths"]),
    (["--seed", "-1"], ["--seed", "-1", "4,294,967,295"]),
    (["--seed", str(2**32)], ["--seed", "4294967296"]),
    (["--seed", str(10**40)], ["--seed"]),
    (["--horizon", "0"], ["--horizon", "0"]),
    (["--horizon", "100000"], ["--horizon"]),
    (["--num-processes", "2"], ["--num-processes", "--distributed"]),
    (["--distributed", "--coordinator", "nohost"], ["--coordinator", "HOST:PORT"]),
    (["--distributed", "--num-processes", "2", "--process-id", "5"], ["--process-id"]),
]


@pytest.mark.parametrize(("extra", "needles"), BAD_OPTIONS, ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_run_refuses_bad_options_before_any_work(stubbed, tree, extra, needles):
    assert_refused(invoke("run", tree["priors"], *extra, "--out", tree["root"] / "new"), *needles)
    assert not (tree["root"] / "new").exists()


def test_run_output_folders_that_are_not_runs_are_refused_and_kept(stubbed, tree):
    assert_refused(invoke("run", tree["priors"], "--out", tree["user"], "--overwrite"), "replaces only a run folder")
    assert_refused(invoke("run", tree["priors"], "--out", tree["file"], "--overwrite"), "is a file")
    assert_refused(invoke("run", tree["priors"], "--out", tree["file"] / "x"), "is a file, not a folder")
    assert_refused(invoke("run", tree["priors"], "--out", tree["user"]), "already exists")
    assert (tree["user"] / "notes.txt").read_text() == "mine" and tree["file"].read_text() == "mine"
    assert not [p for p in tree["root"].iterdir() if p.name.startswith(".")], "nothing hidden beside them"
    result = invoke("run", tree["priors"], "--out", tree["run"], "--overwrite")
    assert isinstance(result.exception, Reached), result.output  # a run folder may be replaced


def test_default_run_folder_stays_under_runs_whatever_the_name(stubbed, tmp_path, monkeypatch):
    from mc_engine._options import safe_name

    for name in ("../../etc", "/abs/path", "a/b", "..", "", "\x00", "[/x]"):
        cleaned = safe_name(name)
        assert "/" not in cleaned and not cleaned.startswith(".") and cleaned
    tree = minimal_tree()
    tree["name"] = "../../escape"
    path = tmp_path / "p.toml"
    path.write_bytes(tomli_w.dumps(tree).encode())
    monkeypatch.chdir(tmp_path)
    result = invoke("run", path)
    assert isinstance(result.exception, Reached)


def test_sweep_refuses_bad_options_folders_and_grid_values(stubbed, tree):
    p = tree["priors"]
    cases = [
        (["--grid", "market.algo_gain"], ["--grid", "KEY=V1,V2"]),
        (["--grid", "market.algo_gain=a,b"], ["--grid", "with numbers"]),
        (["--grid", "market.algo_gain=1,nan"], ["--grid", "finite"]),
        (["--grid", "market.algo_gain=1,1"], ["--grid", "distinct"]),
        (["--grid", "market.algo_gain=1e30"], ["--grid market.algo_gain", "too large"]),
        (["--grid", "companies.alab.rescue_prob=5"], ["--grid companies.alab.rescue_prob", "probability"]),
        (["--grid", "funding.raise_prob.boom=-1"], ["--grid funding.raise_prob.boom", "probability"]),
        (["--grid", "nosuch.input=1"], ["--grid nosuch.input", "not an input"]),
        (["--target-se", "nan"], ["--target-se"]),
        (["--target-se", "-1"], ["--target-se"]),
        (["--paths", "0"], ["--paths"]),
        (["--chunk-paths", "100"], ["--chunk-paths"]),
        (["--out", tree["user"]], ["not a sweep folder"]),
        (["--out", tree["run"]], ["a run folder"]),
        (["--out", tree["file"]], ["is a file"]),
        (["--out", tree["sweep"]], ["unreadable sweep record"]),
    ]
    for extra, needles in cases:
        assert_refused(invoke("sweep", p, *extra), *needles)


def test_rerun_and_report_refuse_folders_that_are_not_runs(stubbed, tree, tmp_path):
    for command in ("rerun", "report"):
        assert_refused(invoke(command, tree["user"]), "not a finished run")
        assert_refused(invoke(command, tmp_path / "absent"), "no such run folder")
        assert_refused(invoke(command, tree["file"]), "no such run folder")
    assert_refused(invoke("rerun", tree["run"], "--tolerance", "nan"), "--tolerance")
    assert_refused(invoke("report", tree["run"], "--attribution-paths", "0"), "--attribution-paths")
    assert_refused(invoke("report", tree["run"], "--out", tree["run"] / "inside"), "inside the run folder")
    assert_refused(invoke("report", tree["run"], "--previous", tree["user"]), "not a finished run")
    swept = tmp_path / "swept"
    swept.mkdir()
    (swept / "manifest.json").write_text(json.dumps({"schema_version": 1, "status": "complete", "kind": "sweep",
                                                     "files": {}}))
    for command in ("rerun", "report"):
        assert_refused(invoke(command, swept), "is a sweep folder")
    corrupt = tmp_path / "corrupt"
    shutil.copytree(tree["run"], corrupt)
    for text in ("{", "[]", '{"status": "complete", "schema_version": 1, "files": {"/etc/passwd": "x"}}',
                 '{"status": "complete", "schema_version": 1, "run": {"seed": -1}}', "\xff"):
        (corrupt / "manifest.json").write_text(text, encoding="latin-1")
        for command in ("rerun", "report"):
            assert_refused(invoke(command, corrupt), "manifest")


@pytest.mark.parametrize("text", MARKUP)
def test_markup_and_control_characters_in_user_text_are_printed_as_text(stubbed, tmp_path, text):
    """A key and a value with markup reach every command's error printer; they come out literally."""
    tree = minimal_tree()
    tree["market"][text] = text
    tree["name"] = text
    path = tmp_path / "p.toml"
    path.write_bytes(tomli_w.dumps(tree).encode())
    shown = plain(text)
    for args in (["priors", "check", path], ["priors", "show", path, text], ["run", path], ["sweep", path],
                 ["sweep", path, "--grid", f"{text}=1"]):
        result = invoke(*args)
        assert_refused(result)
        assert "\x1b" not in result.output and "\x00" not in result.output
        assert shown.strip() in result.output or shown.strip().replace("\\", "") in result.output, result.output
    assert_refused(invoke("run", path, "--prng", text))
    folder = tmp_path / (text.replace("\x00", "").replace("/", "") or "x")
    for args in (["rerun", folder], ["report", folder], ["run", path, "--out", tmp_path, "--overwrite"],
                 ["bench", "--out", tmp_path]):
        result = invoke(*args)  # a path with markup in the error message
        assert_refused(result)
        assert "\x1b" not in result.output and "\x00" not in result.output
    good = tmp_path / "good.toml"
    good.write_bytes(tomli_w.dumps({**minimal_tree(), "name": text}).encode())
    result = invoke("priors", "check", good)  # a valid file with markup in its name prints it
    assert result.exit_code == 0 and "\x1b" not in result.output, result.output
    result = invoke("priors", "show", good, f"market.{text}")
    assert_refused(result, "no such input")


def test_missing_prior_file_is_named_once_with_the_right_header(tmp_path):
    result = invoke("priors", "check", tmp_path / "baselin.toml")
    assert_refused(result, "cannot read the prior file", "no such file")
    assert result.output.count("baselin.toml") == 1, result.output
    result = invoke("priors", "show", REPO / "priors" / "baseline.toml", "market.algo_gian")
    assert_refused(result, "no such input", "market.algo_gain")
    assert "invalid priors" not in result.output


def test_standard_errors_are_never_rounded_to_zero():
    assert _pm(0.973, 0.000162) == "97.30% ± 0.016%"
    assert _pm(0.5, 0.0005) == "50.00% ± 0.050%"
    assert _pm(0.5, 0.012) == "50.0% ± 1.2%"
    assert _pm(1.0, 0.0) == "100.0% ± 0"
    assert "± 0.0%" not in _pm(0.999, 3.2e-5)


def test_version_and_bench_output_paths(tree):
    result = invoke("--version")
    assert result.exit_code == 0 and mc_engine.__version__ in result.output
    assert_refused(invoke("bench", "--out", tree["user"]), "is a folder")
    assert_refused(invoke("bench", "--out", tree["file"] / "x.json"), "is a file, not a folder")
    assert_refused(invoke("bench", "--out", tree["run"] / "bench.json"), "inside the run folder")


def test_include_reads_only_toml_files_inside_the_prior_tree(tmp_path):
    top = tmp_path / "tree" / "scenarios"
    top.mkdir(parents=True)
    (tmp_path / "tree" / "base.toml").write_bytes(tomli_w.dumps(minimal_tree()).encode())
    (tmp_path / "outside.toml").write_bytes(tomli_w.dumps(minimal_tree()).encode())
    os.mkfifo(tmp_path / "tree" / "fifo.toml")
    (tmp_path / "tree" / "big.toml").write_bytes(b"#" * (5 * 2**20))
    (tmp_path / "tree" / "notes.txt").write_text("name = 'x'")
    cases = {"../base.toml": None, "../../outside.toml": "outside the prior tree", "/etc/passwd": "outside the prior",
             "../notes.txt": "not a .toml file", "../fifo.toml": "not a regular file", "../big.toml": "bytes",
             "..": "not a .toml file"}
    for include, message in cases.items():
        path = top / "s.toml"
        path.write_text(f"include = {json.dumps(include)}\n")
        if message is None:
            assert mc_engine.load_priors(path).name == "minimal"
            continue
        with pytest.raises(mc_engine.PriorError, match=message):
            mc_engine.load_priors(path)
    path.write_text('include = "../../outside.toml"\n')
    assert mc_engine.load_priors(path, include_root=tmp_path).name == "minimal"  # the explicit allowance
    # a symlink inside the tree is the tree's own: followed, judged on the path as written
    (tmp_path / "tree" / "shared").symlink_to(REPO / "priors", target_is_directory=True)
    path.write_text('include = "../shared/baseline.toml"\n')
    assert mc_engine.load_priors(path).name == "baseline"
    path.write_text('include = "../shared/../../outside.toml"\n')  # `..` never climbs out through a link
    with pytest.raises(mc_engine.PriorError, match="outside the prior tree"):
        mc_engine.load_priors(path)
    for name in ("baseline.toml", *(f"scenarios/{p.name}" for p in (REPO / "priors" / "scenarios").glob("*.toml"))):
        mc_engine.load_priors(REPO / "priors" / name)  # the shipped tree keeps working


def test_as_of_outside_the_representable_dates_is_refused(tmp_path):
    import datetime as dt

    for as_of in (dt.date(1500, 1, 1), dt.date(2250, 6, 30), dt.date(9999, 12, 31)):
        tree = minimal_tree()
        tree["as_of"] = as_of
        path = tmp_path / "p.toml"
        path.write_bytes(tomli_w.dumps(tree).encode())
        with pytest.raises(mc_engine.PriorError, match="outside 1900-01-01"):
            mc_engine.load_priors(path)
