"""The ``mc-engine`` command line: priors, run, and friends.

Every user error (bad prior file, bad option) prints the project's message and
exits with status 2; tracebacks are for bugs only.
"""

from __future__ import annotations

import math
import shutil
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ._options import (
    MAX_HORIZON,
    check_chunk_paths,
    check_horizon,
    check_paths,
    check_positive,
    check_prng,
    check_seed,
    safe_name,
)
from ._version import __version__
from .errors import PriorError, PriorWarning, RunError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Monte Carlo risk engine for AI-inference economics.")
priors_app = typer.Typer(no_args_is_help=True, help="Validate and inspect prior files.")
app.add_typer(priors_app, name="priors")

stdout = Console(width=max(140, shutil.get_terminal_size().columns))
err = Console(stderr=True)

QUANTILES = (0.01, 0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95, 0.99)
_KEEP = frozenset("\n\t")


def plain(text: object) -> str:
    """User text made safe for a terminal: control characters (ESC, NUL, ...) shown as ``\\xNN`` escapes."""
    return "".join(c if c.isprintable() or c in _KEEP else ascii(c)[1:-1] for c in str(text))


def esc(text: object) -> str:
    """User text for a string rich reads as markup (table cells, titles): escaped, control characters shown."""
    return escape(plain(text))


def _say(label: str, style: str, message: object) -> None:
    """``label: message`` on stderr; the message (user text) is never read as markup."""
    err.print(Text.assemble((label, style), " ", plain(message)), highlight=False, soft_wrap=True)


class OptionError(RunError):
    """A command-line option with a value outside what it allows."""


def _option(check: Callable[..., object], *args: object, **kwargs: object) -> None:
    """Run one of the ``_options`` checks; its RunError becomes an OptionError (same message, exit 2)."""
    try:
        check(*args, **kwargs)
    except RunError as exc:
        raise OptionError(str(exc)) from None


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn the project's errors into a message on stderr and exit status 2; show warnings in yellow.

    Messages carry user text (keys, values, paths): they are printed as plain text, never as markup.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PriorWarning)
        try:
            yield
        except (PriorError, RunError) as exc:
            _say("error:", "bold red", exc)
            raise typer.Exit(2) from None
        except OSError as exc:  # the file system refused: a folder where a file goes, no permission, disk full
            where = f"{exc.filename}: " if exc.filename else ""
            _say("error:", "bold red", f"{where}{exc.strerror or exc}")
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            _say("interrupted:", "bold red", "nothing was written")
            raise typer.Exit(130) from None
        finally:
            for w in caught:
                if issubclass(w.category, PriorWarning):
                    _say("warning:", "yellow", w.message)


def _version(value: bool) -> None:
    if value:
        stdout.print(f"mc-engine {__version__}", highlight=False, markup=False)
        raise typer.Exit()


@app.callback()
def _main(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Print the version and exit.")] = False) -> None:
    """Monte Carlo risk engine for AI-inference economics."""


def _fmt(x: float) -> str:
    if x == 0 or 1e-3 <= abs(x) < 1e6:
        return f"{x:.4g}"
    return f"{x:.3e}"


PriorsFile = Annotated[Path, typer.Argument(help="A prior file (TOML), e.g. priors/baseline.toml.")]
RelaxSources = Annotated[
    bool, typer.Option("--allow-unsourced", help="Do not require source/as_of on every number.")
]


@priors_app.command("check")
def priors_check(
    file: PriorsFile,
    allow_unsourced: RelaxSources = False,
    only: Annotated[str | None, typer.Option(help="List only inputs under this dotted prefix, e.g. "
                                                  "companies.openai or market.")] = None,
    grep: Annotated[str | None, typer.Option(help="List only inputs whose name or source contains this text "
                                                  "(case-insensitive).")] = None,
) -> None:
    """Validate FILE and print every input (or those --only / --grep select) with its median, 90% interval and
    source; the validation always covers the whole file."""
    with _user_errors():
        from .engine.ppf import quantiles
        from .inputs.loader import load_priors

        priors = load_priors(file, require_sources=not allow_unsourced)
        prefix = only.rstrip(".") if only else None
        selected = {name: inp for name, inp in priors.inputs.items()
                    if (prefix is None or name == prefix or name.startswith(prefix + "."))
                    and (grep is None or grep.lower() in f"{name} {inp.source or ''}".lower())}
        shown = f", {len(selected)} shown" if len(selected) != len(priors.inputs) else ""
        table = Table(title=f"{esc(priors.name)}: {len(priors.inputs)} inputs{shown}, as of {priors.as_of}",
                      show_lines=False)
        for col in ("input", "units", "dist", "5%", "median", "95%", "source"):
            table.add_column(col, overflow="fold", justify="right" if col in ("5%", "median", "95%") else "left")
        n_unknown = sum(inp.unknown for inp in priors.inputs.values())
        for name, inp in selected.items():
            q05, q50, q95 = quantiles(inp.dist, (0.05, 0.5, 0.95))
            flag = " [magenta](unknown)[/]" if inp.unknown else ""
            source = (inp.source or "-") + (f" ({inp.as_of})" if inp.as_of else "")
            table.add_row(esc(name) + flag, esc(inp.units), esc(inp.dist.family), _fmt(q05), _fmt(q50), _fmt(q95),
                          esc(source))
        stdout.print(table)
        kinds = ", ".join(f"{c.id} ({c.kind})" for c in priors.companies)
        stdout.print(f"companies: {esc(kinds)}")
        stdout.print(
            "regime start (boom/normal/winter): "
            + " / ".join(f"{p:.2f}" for p in priors.regime_initial)
        )
        n_uncertain = sum(not i.is_point for i in priors.inputs.values())
        corr = priors.correlation
        stdout.print(
            f"[green]ok[/]: {esc(priors.path)} is valid: {len(priors.inputs)} inputs ({n_uncertain} uncertain, "
            f"{n_unknown} marked unknown), {len(priors.schedules)} schedules, "
            f"{len(corr.inputs) if corr else 0} correlated inputs, digest {priors.digest[:12]}"
        )


@priors_app.command("show")
def priors_show(
    file: PriorsFile,
    input_name: Annotated[str, typer.Argument(metavar="INPUT", help="Dotted input name, e.g. market.algo_gain.")],
    allow_unsourced: RelaxSources = False,
) -> None:
    """Print the quantiles, mean and sd of one input of FILE."""
    with _user_errors():
        from difflib import get_close_matches

        from .engine.ppf import mean_sd, quantiles
        from .inputs.loader import load_priors

        priors = load_priors(file, require_sources=not allow_unsourced)
        if input_name not in priors.inputs:
            near = get_close_matches(input_name, list(priors.inputs), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(near)}?" if near else "; `mc-engine priors check FILE` lists them"
            raise OptionError(f"{file}: INPUT {input_name!r}: no such input{hint}")
        inp = priors.inputs[input_name]
        about = Table(title=esc(input_name), title_justify="left", show_header=False, box=None,
                      padding=(0, 2, 0, 0))
        about.add_column(style="bold")
        about.add_column(overflow="fold")
        about.add_row("meaning", esc(inp.doc))
        about.add_row("units", esc(inp.units))
        about.add_row("distribution", esc(_describe(inp.dist)))
        about.add_row("source", esc((inp.source or "-") + (" [unknown]" if inp.unknown else "")))
        about.add_row("as of", esc(inp.as_of or "-"))
        about.add_row("from", esc(inp.file))
        stdout.print(about)
        table = Table(title="quantiles", title_justify="left")
        table.add_column("quantile")
        table.add_column(f"value [{inp.units}]", justify="right")
        for q, v in zip(QUANTILES, quantiles(inp.dist, QUANTILES), strict=True):
            table.add_row(f"{q:.0%}", _fmt(v))
        mean, sd = mean_sd(inp.dist)
        table.add_row("mean", _fmt(mean))
        table.add_row("sd", _fmt(sd))
        stdout.print(table)


def _describe(dist) -> str:  # noqa: ANN001 - a Dist
    """``lognormal(mu=0.1, sigma=0.3)``, ``point 5``, truncation and mixture weights in words."""
    from .inputs.families import FAMILY

    if dist.family == "mixture":
        parts = [f"{w:.0%} {_describe(c)}" for w, c in zip(dist.weights, dist.components, strict=True)]
        text = "mixture of " + " + ".join(parts)
    elif dist.family == "point":
        text = f"point {_fmt(dist.params[0])}"
    else:
        names = FAMILY[dist.family].params
        args = ", ".join(f"{n}={_fmt(v)}" for n, v in zip(names, dist.params, strict=False))
        text = f"{dist.family}({args})"
    lo, hi = dist.bounds
    if lo != float("-inf") or hi != float("inf"):
        text += f", truncated to [{_fmt(lo)}, {_fmt(hi)}]"
    return text


def _run_options(paths: int, seed: int, horizon: int, chunk_paths: int | None, prng: str,
                 paths_option: str = "--paths") -> None:
    """Refuse a bad option before any work starts (OptionError: exit 2, naming option, value, what is allowed)."""
    from .engine.keys import DEFAULT_BLOCK_SIZE

    _option(check_paths, paths, paths_option)
    _option(check_seed, seed)
    _option(check_horizon, horizon)
    _option(check_prng, prng)
    _option(check_chunk_paths, chunk_paths, prng, DEFAULT_BLOCK_SIZE)


def _distributed_options(distributed: bool, coordinator: str | None, num_processes: int | None,
                         process_id: int | None) -> None:
    given = [name for name, v in (("--coordinator", coordinator), ("--num-processes", num_processes),
                                  ("--process-id", process_id)) if v is not None]
    if given and not distributed:
        raise OptionError(f"{', '.join(given)} given without --distributed; add --distributed or drop them")
    if num_processes is not None and not 1 <= num_processes <= 65_536:
        raise OptionError(f"--num-processes {num_processes}: must be from 1 to 65,536")
    if process_id is not None and not 0 <= process_id < (num_processes or 65_536):
        raise OptionError(f"--process-id {process_id}: must be from 0 to --num-processes - 1")
    if coordinator is not None:
        host, _, port = coordinator.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65_536:
            raise OptionError(f"--coordinator {coordinator!r}: expected HOST:PORT with a port from 1 to 65535")


@app.command("run")
def run(
    file: PriorsFile,
    paths: Annotated[int, typer.Option("--paths", "-n", help="Number of futures to simulate.")] = 100_000,
    seed: Annotated[int, typer.Option(help="Root seed, 0 to 2**32 - 1 (same priors + seed = same numbers).")] = 0,
    horizon: Annotated[int, typer.Option(help=f"Quarters after as_of (1 to {MAX_HORIZON}).")] = 24,
    out: Annotated[Path | None, typer.Option(help="Run folder (default runs/<priors>-<time>).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing run folder (only a run folder).")] = False,
    chunk_paths: Annotated[int | None, typer.Option(help="Paths per compiled call (multiple of 8192).")] = None,
    prng: Annotated[str, typer.Option(help="philox4x32, threefry4x32 or threefry2x32.")] = "philox4x32",
    allow_unsourced: RelaxSources = False,
    distributed: Annotated[bool, typer.Option(help="Several hosts: call jax.distributed.initialize() (Slurm, "
                                                   "Open MPI and TPU pods are detected; elsewhere give the three "
                                                   "options below). Process 0 writes the folder.")] = False,
    coordinator: Annotated[str | None, typer.Option(help="HOST:PORT of process 0 (with --distributed).")] = None,
    num_processes: Annotated[int | None, typer.Option(help="Processes in all (with --distributed).")] = None,
    process_id: Annotated[int | None, typer.Option(help="This process, 0-based (with --distributed).")] = None,
) -> None:
    """Simulate FILE and write a run folder (result.nc, manifest.json, resolved priors) atomically."""
    import datetime as dt

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    with _user_errors():
        from . import simulate
        from .inputs.loader import load_priors
        from .output.runs import check_target, write_run

        _run_options(paths, seed, horizon, chunk_paths, prng)
        _distributed_options(distributed, coordinator, num_processes, process_id)
        if out is not None:
            check_target(out, overwrite)
        priors = load_priors(file, require_sources=not allow_unsourced)
        if out is None:
            stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            out = Path("runs") / f"{safe_name(priors.name)}-{stamp}-s{seed}"
            check_target(out, overwrite)
        if distributed:
            import jax

            try:
                jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                                           process_id=process_id)
            except (RuntimeError, ValueError) as exc:
                raise OptionError(f"--distributed: jax.distributed.initialize failed: {exc}") from None
        columns = (TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,} paths"),
                   TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
        with Progress(*columns, console=err, transient=False) as bar:
            task = bar.add_task("compiling", total=paths, rate="")
            clock = {}

            def progress(done: int, total: int) -> None:
                import time

                now = time.perf_counter()
                clock.setdefault("start", now)  # the first call comes once compiling is done
                rate = f"{done / (now - clock['start']):,.0f} paths/s" if done else ""
                bar.update(task, completed=done, description="simulating", rate=rate)

            ds = simulate(priors, paths, seed, horizon, chunk_paths=chunk_paths, prng=prng, progress=progress)
        if distributed:
            import jax

            if jax.process_index() != 0:
                stdout.print(f"process {jax.process_index()} of {jax.process_count()}: done; process 0 writes "
                             f"{esc(out)}")
                return
        folder = write_run(ds, out, priors, overwrite=overwrite)
        _summary(ds)
        stdout.print(f"[green]wrote[/] {esc(folder)} ({paths:,} paths, {ds.attrs['run_seconds']:.1f} s simulating, "
                  f"{ds.attrs['compile_seconds']:.1f} s compiling)")


def _grid_values(grid: list[str]) -> dict[str, list[float]]:
    """``--grid KEY=V1,V2,...`` items as {KEY: [values]}: finite, distinct numbers, each key once."""
    values: dict[str, list[float]] = {}
    for item in grid:
        key, sep, text = item.partition("=")
        key = key.strip()
        try:
            numbers = [float(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise OptionError(f"--grid {item!r}: expected KEY=V1,V2,... with numbers") from None
        if not sep or not key or not numbers:
            raise OptionError(f"--grid {item!r}: expected KEY=V1,V2,... (e.g. market.algo_gain=0.5,1.0)")
        if not all(math.isfinite(v) for v in numbers) or len(set(numbers)) != len(numbers):
            raise OptionError(f"--grid {item!r}: values must be distinct finite numbers")
        if key in values:
            raise OptionError(f"--grid {key}: given twice; list every value in one --grid")
        values[key] = numbers
    return values


def _pm(p: float, se: float) -> str:
    """``97.3% ± 0.016%``: the standard error to two significant digits, never rounded to zero."""
    if not se > 0:
        return f"{p:.1%} ± 0"
    digits = max(1, 1 - math.floor(math.log10(se * 100)))
    return f"{p:.{max(1, digits - 1)}%} ± {se:.{digits}%}"


@app.command("sweep")
def sweep_command(
    file: PriorsFile,
    grid: Annotated[list[str] | None, typer.Option("--grid", help="KEY=V1,V2,...: pin input KEY to each value "
                                                               "(repeat for more keys).")] = None,
    scenario: Annotated[list[Path] | None, typer.Option("--scenario", help="Another prior file (repeatable).")] = None,
    paths: Annotated[int, typer.Option("--paths", "-n", help="Paths per point (maximum with "
                                                            "--target-se).")] = 100_000,
    seed: Annotated[int, typer.Option(help="Root seed, 0 to 2**32 - 1.")] = 0,
    horizon: Annotated[int, typer.Option(help=f"Quarters after as_of (1 to {MAX_HORIZON}).")] = 24,
    out: Annotated[Path | None, typer.Option(help="Sweep folder (resumable; default runs/<priors>-sweep).")] = None,
    target_se: Annotated[float | None, typer.Option(help="Stop a point once every survival SE is below "
                                                         "this.")] = None,
    chunk_paths: Annotated[int | None, typer.Option(help="Paths per compiled call (multiple of 8192).")] = None,
    allow_unsourced: RelaxSources = False,
) -> None:
    """Simulate FILE (and each --scenario) at every --grid combination; rerun the same command to resume."""
    from itertools import product

    from rich.progress import BarColumn, Progress, TextColumn

    with _user_errors():
        from . import sweep
        from .inputs.loader import load_priors, point_problem
        from .output.sweep import check_sweep_folder

        _run_options(paths, seed, horizon, chunk_paths, "philox4x32")
        if target_se is not None:
            _option(check_positive, target_se, "--target-se")
        values = _grid_values(grid or [])
        if out is not None:
            check_sweep_folder(out)
        priors = load_priors(file, require_sources=not allow_unsourced)
        sets = [priors] + [load_priors(f, require_sources=not allow_unsourced) for f in scenario or []]
        for key, vs in values.items():
            for p in sets:
                problem = next(filter(None, (point_problem(p, key, v) for v in vs)), None)
                if problem:
                    raise OptionError(f"--grid {key}: {problem}")
        out = out or Path("runs") / f"{safe_name(priors.name)}-sweep"
        check_sweep_folder(out)
        columns = (TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"))
        with Progress(*columns, console=err) as bar:
            task = bar.add_task("points", total=None, info="compiling")

            def progress(p: dict) -> None:
                eta = "-" if p["eta_s"] == float("inf") else f"{p['eta_s']:,.0f} s"
                bar.update(task, total=p["points_total"], completed=p["points_done"],
                           info=f"{p['points_done']}/{p['points_total']} points, {p['paths_per_s']:,.0f} paths/s, "
                                f"eta {eta}")

            ds = sweep(priors, values, scenario, paths, seed, horizon, out, target_se, chunk_paths=chunk_paths,
                       progress=progress)
        # companies as rows, one column per point: company names are never cut, however many points
        keys = list(values)
        last = ds.isel(quarter=-1)
        points = [dict(zip(["scenario", *keys], combo, strict=True))
                  for combo in product(ds.scenario.values, *(ds[k].values for k in keys))]
        table = Table(title=f"survival at {horizon} quarters by company (rows) and point (columns)")
        table.add_column("company", no_wrap=True)
        for at in points:
            label = "\n".join([str(at["scenario"])] + [f"{k.split('.')[-1]}={_fmt(float(at[k]))}" for k in keys])
            table.add_column(esc(label), justify="right")
        for c in ds.company.values:
            table.add_row(esc(c), *[_pm(float(last.sel(at).survival_prob.sel(company=c)),
                                        float(last.sel(at).survival_prob_se.sel(company=c))) for at in points])
        table.add_section()
        table.add_row("paths", *[f"{int(last.sel(at).paths_used):,}" for at in points])
        stdout.print(table)
        stdout.print(f"[green]wrote[/] {esc(out / 'result.nc')}")


@app.command("rerun")
def rerun(
    run: Annotated[Path, typer.Argument(help="A run folder written by `mc-engine run`.")],
    out: Annotated[Path | None, typer.Option(help="Also keep the rerun as a run folder here.")] = None,
    tolerance: Annotated[float, typer.Option(help="Largest difference, in Monte Carlo standard errors, "
                                                  "that another backend may show.")] = 4.0,
) -> None:
    """Rerun RUN from its manifest and compare: exit 0 if bit-for-bit identical or within Monte Carlo error."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with _user_errors():
        from .output.rerun import rerun as rerun_folder
        from .output.runs import check_target, read_manifest

        _option(check_positive, tolerance, "--tolerance", allow_zero=True)
        if read_manifest(run).get("kind", "run") != "run":
            raise OptionError(f"{run} is a sweep folder; rerun reruns a run folder (mc-engine run)")
        if out is not None:
            check_target(out, overwrite=False)
        columns = (TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed:,} paths"),
                   TimeElapsedColumn())
        with Progress(*columns, console=err) as bar:
            task = bar.add_task("compiling the rerun", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total, description="rerunning")

            comparison, _ = rerun_folder(run, out=out, tolerance=tolerance, progress=progress)
        for line in comparison.report():
            stdout.print(plain(line), highlight=False, markup=False, soft_wrap=True)
    if not comparison.ok:
        raise typer.Exit(1)


@app.command("report")
def report(
    run: Annotated[Path, typer.Argument(help="Run folder, e.g. runs/baseline, or a sweep folder.")],
    previous: Annotated[Path | None, typer.Option(help="Last quarter's run folder: adds the change and its "
                                                       "attribution (priors / starting data / noise).")] = None,
    against: Annotated[Path | None, typer.Option(help="A run folder to compare with (e.g. the baseline, for a "
                                                      "scenario); no attribution.")] = None,
    out: Annotated[Path | None, typer.Option(help="Output path without suffix (default reports/<run>); writes "
                                                  ".html, .pdf and .json.")] = None,
    attribution_paths: Annotated[int | None, typer.Option(help="Paths of the attribution reruns "
                                                               "(default: the previous run's).")] = None,
) -> None:
    """Write the risk report of RUN as a self-contained HTML page and a PDF."""
    with _user_errors():
        from .output.runs import check_report_target, read_manifest

        if attribution_paths is not None:
            _option(check_paths, attribution_paths, "--attribution-paths")
        if previous is not None and against is not None:
            raise OptionError("give either --previous (last quarter's run) or --against (a run to compare with), "
                              "not both")
        read_manifest(run)  # a finished run or sweep folder (a sweep's points are compared), else exit 2
        # --previous and --against take run folders
        for folder in (*([previous] if previous is not None else []), *([against] if against is not None else [])):
            if read_manifest(folder).get("kind", "run") != "run":
                raise OptionError(f"{folder} is a sweep folder; --previous and --against take a run folder "
                                  "(mc-engine run)")
        check_report_target(run, out)
        try:
            from .report import write_report

            files = write_report(run, previous=previous, out=out, against=against,
                                 attribution_paths=attribution_paths,
                                 progress=lambda line: err.print(plain(line), highlight=False, markup=False))
        except ModuleNotFoundError as exc:
            raise RunError(f"the report needs the Python package {exc.name}, which is not installed here: "
                           "`make run` (or `pip install -e .`) installs it") from None
        stdout.print(f"[green]wrote[/] {esc(files.html)}, {esc(files.pdf)} and {esc(files.data)}")


def _exit_causes(ds, company: str) -> str:  # noqa: ANN001
    """Exits by the horizon by cause, largest first, e.g. ``covenant 3.9% · maturity 3.4% · acquisition 1.2%``."""
    if "exit_prob" not in ds:
        return "-"
    last = ds.exit_prob.sel(company=company).isel(quarter=-1)
    parts = sorted(((float(last.sel(cause=k)), str(k)) for k in ds.cause.values), reverse=True)
    shown = [f"{name} {p:.1%}" for p, name in parts if p >= 0.0005]
    return " · ".join(shown) if shown else "none"


def _summary(ds) -> None:  # noqa: ANN001
    """Survival at 4, 8 and the last quarter with +-SE, and median runway, per company."""
    horizon = ds.sizes["quarter"]
    marks = [q for q in (4, 8, horizon) if q <= horizon]
    table = Table(title=f"survival by company ({ds.attrs['n_paths']:,} paths, seed {ds.attrs['seed']}; ± one "
                        "standard error)")
    table.add_column("company")
    table.add_column("kind")
    for q in dict.fromkeys(marks):
        table.add_column(f"survival {q}q", justify="right")
    table.add_column("median runway 4q", justify="right")
    table.add_column(f"why it left by {horizon}q", justify="left")
    for c in ds.company.values:
        row = [esc(c), esc(ds.kind.sel(company=c).values)]
        for q in dict.fromkeys(marks):
            p = float(ds.survival_prob.sel(company=c).isel(quarter=q - 1))
            se = float(ds.survival_prob_se.sel(company=c).isel(quarter=q - 1))
            row.append(_pm(p, se))
        runway = ds.runway_quarters.sel(company=c, quantile=0.5).isel(quarter=min(3, horizon - 1))
        row.append("-" if not bool(np.isfinite(runway)) else ("100+ q" if float(runway) >= 100 else f"{float(runway):.1f} q"))
        row.append(_exit_causes(ds, c))
        table.add_row(*row)
    stdout.print(table)
    _plausibility_lines(ds)


def _plausibility_lines(ds) -> None:  # noqa: ANN001
    """One warning line per figure beyond the plausibility bounds (mc_engine.output.plausibility)."""
    from .output.plausibility import check

    flags = check(ds)
    if flags:
        stdout.print(f"[bold red]plausibility: {len(flags)} figure(s) beyond the stated bounds[/]")
    for f in flags:
        stdout.print(f"  [red]![/] {esc(f.what)} of {esc(f.company or 'the market')}: {esc(f.value)} "
                     f"(bound {esc(f.bound)}); {esc(f.paths)}", highlight=False)


@app.command("bench")
def bench(
    full: Annotated[bool, typer.Option(help="Moved: python -m benchmarks --full.")] = False,
    out: Annotated[Path | None, typer.Option(help="Moved: python -m benchmarks --out FILE.")] = None,
) -> None:
    """Moved: the speed suite runs from a checkout, ``python -m benchmarks [--full]`` (docs/performance.md)."""
    with _user_errors():
        if out is not None:
            _check_record_path(out)
    err.print("The speed suite is not part of the installed package: it reads a checkout (priors/, "
              "tests/) and writes benchmarks/results/. From the repository root run\n"
              "  python -m benchmarks [--full] [--out FILE]      (or: make bench)\nSee docs/performance.md.")
    raise typer.Exit(2)


def _check_record_path(out: Path) -> None:
    """A file to write: not a folder, not inside a run folder, its parent not a file."""
    from .output.runs import MANIFEST

    if out.is_dir():
        raise OptionError(f"--out {out} is a folder; give the path of a JSON file")
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise OptionError(f"--out {out}: {parent} is a file, not a folder")
        if (parent / MANIFEST).is_file():
            raise OptionError(f"--out {out}: inside the run folder {parent}; choose a path outside runs")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    command: Callable[..., object] = app
    command(args=argv if argv is not None else sys.argv[1:], prog_name="mc-engine")


if __name__ == "__main__":
    main()
