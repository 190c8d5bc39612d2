"""The ``mc-engine`` command line: priors, run, and friends.

Every user error (bad prior file, bad option) prints the project's message and
exits with status 2; tracebacks are for bugs only.
"""

from __future__ import annotations

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
from rich.table import Table

from .errors import PriorError, PriorWarning, RunError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Monte Carlo risk engine for AI-inference economics.")
priors_app = typer.Typer(no_args_is_help=True, help="Validate and inspect prior files.")
app.add_typer(priors_app, name="priors")

stdout = Console(width=max(140, shutil.get_terminal_size().columns))
err = Console(stderr=True)

QUANTILES = (0.01, 0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95, 0.99)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn the project's errors into a message on stderr and exit status 2; show warnings in yellow."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PriorWarning)
        try:
            yield
        except (PriorError, RunError) as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True, soft_wrap=True)
            raise typer.Exit(2) from None
        finally:
            for w in caught:
                if issubclass(w.category, PriorWarning):
                    err.print(f"[yellow]warning:[/] {w.message}", highlight=False, soft_wrap=True)


def _fmt(x: float) -> str:
    if x == 0 or 1e-3 <= abs(x) < 1e6:
        return f"{x:.4g}"
    return f"{x:.3e}"


PriorsFile = Annotated[Path, typer.Argument(help="A prior file (TOML), e.g. priors/baseline.toml.")]
RelaxSources = Annotated[
    bool, typer.Option("--allow-unsourced", help="Do not require source/as_of on every number.")
]


@priors_app.command("check")
def priors_check(file: PriorsFile, allow_unsourced: RelaxSources = False) -> None:
    """Validate FILE and print every input with its median, 90% interval and source."""
    with _user_errors():
        from .inputs.distributions import quantiles
        from .inputs.loader import load_priors

        priors = load_priors(file, require_sources=not allow_unsourced)
        table = Table(title=f"{priors.name}: {len(priors.inputs)} inputs, as of {priors.as_of}", show_lines=False)
        for col in ("input", "units", "dist", "5%", "median", "95%", "source"):
            table.add_column(col, overflow="fold", justify="right" if col in ("5%", "median", "95%") else "left")
        n_unknown = 0
        for name, inp in priors.inputs.items():
            q05, q50, q95 = quantiles(inp.dist, (0.05, 0.5, 0.95))
            n_unknown += inp.unknown
            flag = " [magenta](unknown)[/]" if inp.unknown else ""
            source = (inp.source or "-") + (f" ({inp.as_of})" if inp.as_of else "")
            table.add_row(name + flag, inp.units, inp.dist.family, _fmt(q05), _fmt(q50), _fmt(q95), source)
        stdout.print(table)
        kinds = ", ".join(f"{c.id} ({c.kind})" for c in priors.companies)
        stdout.print(f"companies: {kinds}")
        stdout.print(
            "regime start (boom/normal/winter): "
            + " / ".join(f"{p:.2f}" for p in priors.regime_initial)
        )
        n_uncertain = sum(not i.is_point for i in priors.inputs.values())
        corr = priors.correlation
        stdout.print(
            f"[green]ok[/]: {priors.path} is valid: {len(priors.inputs)} inputs ({n_uncertain} uncertain, "
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

        from .inputs.distributions import mean_sd, quantiles
        from .inputs.loader import load_priors

        priors = load_priors(file, require_sources=not allow_unsourced)
        if input_name not in priors.inputs:
            near = get_close_matches(input_name, list(priors.inputs), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(near)}?" if near else "; `mc-engine priors check FILE` lists them"
            raise PriorError([_problem(file, input_name, f"no such input{hint}")])
        inp = priors.inputs[input_name]
        table = Table(title=f"{input_name} [{inp.units}]: {inp.doc}")
        table.add_column("quantile")
        table.add_column("value", justify="right")
        for q, v in zip(QUANTILES, quantiles(inp.dist, QUANTILES), strict=True):
            table.add_row(f"{q:.0%}", _fmt(v))
        mean, sd = mean_sd(inp.dist)
        table.add_row("mean", _fmt(mean))
        table.add_row("sd", _fmt(sd))
        stdout.print(table)
        stdout.print(f"distribution: {inp.dist}")
        stdout.print(f"source: {inp.source} (as of {inp.as_of}); from {inp.file}" + (" [unknown]" if inp.unknown else ""))


@app.command("run")
def run(
    file: PriorsFile,
    paths: Annotated[int, typer.Option("--paths", "-n", min=1, help="Number of futures to simulate.")] = 100_000,
    seed: Annotated[int, typer.Option(help="Root seed (same priors + seed = same numbers).")] = 0,
    horizon: Annotated[int, typer.Option(min=1, max=200, help="Quarters after as_of.")] = 24,
    out: Annotated[Path | None, typer.Option(help="Run folder (default runs/<priors>-<time>).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing run folder.")] = False,
    chunk_paths: Annotated[int | None, typer.Option(help="Paths per compiled call (multiple of 8192).")] = None,
    prng: Annotated[str, typer.Option(help="philox4x32, threefry4x32 or threefry2x32.")] = "philox4x32",
    allow_unsourced: RelaxSources = False,
    distributed: Annotated[bool, typer.Option(help="Several hosts: call jax.distributed.initialize() (Slurm, "
                                                   "Open MPI and TPU pods are detected; elsewhere give the three "
                                                   "options below). Process 0 writes the folder.")] = False,
    coordinator: Annotated[str | None, typer.Option(help="HOST:PORT of process 0 (with --distributed).")] = None,
    num_processes: Annotated[int | None, typer.Option(min=1, help="Processes in all (with --distributed).")] = None,
    process_id: Annotated[int | None, typer.Option(min=0, help="This process, 0-based (with --distributed).")] = None,
) -> None:
    """Simulate FILE and write a run folder (result.nc, manifest.json, resolved priors) atomically."""
    import datetime as dt

    if distributed:
        import jax

        jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                                   process_id=process_id)

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    with _user_errors():
        from . import simulate
        from .inputs.loader import load_priors
        from .output.runs import write_run

        priors = load_priors(file, require_sources=not allow_unsourced)
        if out is None:
            stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            out = Path("runs") / f"{priors.name}-{stamp}-s{seed}"
        if out.exists() and not overwrite:
            raise RunError(f"{out} already exists; pass --overwrite or choose another --out")
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
                stdout.print(f"process {jax.process_index()} of {jax.process_count()}: done; process 0 writes {out}")
                return
        folder = write_run(ds, out, priors, overwrite=overwrite)
        _summary(ds)
        stdout.print(f"[green]wrote[/] {folder} ({paths:,} paths, {ds.attrs['run_seconds']:.1f} s simulating, "
                  f"{ds.attrs['compile_seconds']:.1f} s compiling)")


@app.command("sweep")
def sweep_command(
    file: PriorsFile,
    grid: Annotated[list[str] | None, typer.Option("--grid", help="KEY=V1,V2,...: pin input KEY to each value "
                                                               "(repeat for more keys).")] = None,
    scenario: Annotated[list[Path] | None, typer.Option("--scenario", help="Another prior file (repeatable).")] = None,
    paths: Annotated[int, typer.Option("--paths", "-n", min=1, help="Paths per point (maximum with "
                                                                     "--target-se).")] = 100_000,
    seed: Annotated[int, typer.Option(help="Root seed.")] = 0,
    horizon: Annotated[int, typer.Option(min=1, max=200, help="Quarters after as_of.")] = 24,
    out: Annotated[Path | None, typer.Option(help="Sweep folder (resumable; default runs/<priors>-sweep).")] = None,
    target_se: Annotated[float | None, typer.Option(min=0, help="Stop a point once every survival SE is below "
                                                                "this.")] = None,
    chunk_paths: Annotated[int | None, typer.Option(help="Paths per compiled call.")] = None,
    allow_unsourced: RelaxSources = False,
) -> None:
    """Simulate FILE (and each --scenario) at every --grid combination; rerun the same command to resume."""
    from itertools import product

    from rich.progress import BarColumn, Progress, TextColumn

    with _user_errors():
        from . import sweep
        from .inputs.loader import load_priors

        values: dict[str, list[float]] = {}
        for item in grid or []:
            key, _, text = item.partition("=")
            try:
                values[key.strip()] = [float(v) for v in text.split(",") if v.strip()]
            except ValueError:
                raise RunError(f"--grid {item!r}: expected KEY=V1,V2,... with numbers") from None
            if not key.strip() or not values[key.strip()]:
                raise RunError(f"--grid {item!r}: expected KEY=V1,V2,...")
        priors = load_priors(file, require_sources=not allow_unsourced)
        out = out or Path("runs") / f"{priors.name}-sweep"
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
        table = Table(title=f"survival at {horizon} quarters by point")
        keys = list(values)
        for col in ("scenario", *keys, *[str(c) for c in ds.company.values], "paths"):
            table.add_column(col, justify="left" if col == "scenario" else "right")
        last = ds.isel(quarter=-1)
        for combo in product(ds.scenario.values, *(ds[k].values for k in keys)):
            at = dict(zip(["scenario", *keys], combo, strict=True))
            pt = last.sel(at)
            cells = [f"{float(pt.survival_prob.sel(company=c)):.1%} ± {float(pt.survival_prob_se.sel(company=c)):.1%}"
                     for c in ds.company.values]
            table.add_row(str(combo[0]), *[_fmt(float(v)) for v in combo[1:]], *cells, f"{int(pt.paths_used):,}")
        stdout.print(table)
        stdout.print(f"[green]wrote[/] {out / 'result.nc'}")


@app.command("rerun")
def rerun(
    run: Annotated[Path, typer.Argument(help="A run folder written by `mc-engine run`.")],
    out: Annotated[Path | None, typer.Option(help="Also keep the rerun as a run folder here.")] = None,
    tolerance: Annotated[float, typer.Option(min=0, help="Largest difference, in Monte Carlo standard errors, "
                                                         "that another backend may show.")] = 4.0,
) -> None:
    """Rerun RUN from its manifest and compare: exit 0 if bit-for-bit identical or within Monte Carlo error."""
    with _user_errors():
        from .output.rerun import rerun as rerun_folder

        comparison, _ = rerun_folder(run, out=out, tolerance=tolerance)
        for line in comparison.report():
            stdout.print(line, highlight=False, markup=False, soft_wrap=True)
    if not comparison.ok:
        raise typer.Exit(1)


@app.command("report")
def report(
    run: Annotated[Path, typer.Argument(help="Run folder, e.g. runs/baseline.")],
    previous: Annotated[Path | None, typer.Option(help="Last quarter's run folder: adds the change and its "
                                                       "attribution (priors / starting data / noise).")] = None,
    out: Annotated[Path | None, typer.Option(help="Output path without suffix (default reports/<run>); writes "
                                                  ".html, .pdf and .json.")] = None,
    attribution_paths: Annotated[int | None, typer.Option(min=1, help="Paths of the attribution reruns "
                                                                      "(default: the previous run's).")] = None,
) -> None:
    """Write the risk report of RUN as a self-contained HTML page and a PDF."""
    with _user_errors():
        from .report import write_report

        files = write_report(run, previous=previous, out=out, attribution_paths=attribution_paths,
                             progress=lambda line: err.print(line, highlight=False, markup=False))
        stdout.print(f"[green]wrote[/] {files.html}, {files.pdf} and {files.data}")


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
    table = Table(title=f"survival by company ({ds.attrs['n_paths']:,} paths, seed {ds.attrs['seed']})")
    table.add_column("company")
    table.add_column("kind")
    for q in dict.fromkeys(marks):
        table.add_column(f"survival {q}q", justify="right")
    table.add_column("median runway 4q", justify="right")
    table.add_column(f"why it left by {horizon}q", justify="left")
    for c in ds.company.values:
        row = [str(c), str(ds.kind.sel(company=c).values)]
        for q in dict.fromkeys(marks):
            p = float(ds.survival_prob.sel(company=c).isel(quarter=q - 1))
            se = float(ds.survival_prob_se.sel(company=c).isel(quarter=q - 1))
            row.append(f"{p:.1%} ± {se:.1%}")
        runway = ds.runway_quarters.sel(company=c, quantile=0.5).isel(quarter=min(3, horizon - 1))
        row.append("-" if not bool(np.isfinite(runway)) else ("100+ q" if float(runway) >= 100 else f"{float(runway):.1f} q"))
        row.append(_exit_causes(ds, c))
        table.add_row(*row)
    stdout.print(table)


@app.command("bench", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def bench() -> None:
    """Moved: the speed suite runs from a checkout, ``python -m benchmarks [--full]`` (docs/performance.md)."""
    err.print("The speed suite is not part of the installed package: it reads a checkout (priors/, "
              "tests/) and writes benchmarks/results/. From the repository root run\n"
              "  python -m benchmarks [--full]      (or: make bench)\nSee docs/performance.md.")
    raise typer.Exit(2)


def _problem(file: Path, key: str, message: str):  # noqa: ANN202
    from .errors import Problem

    return Problem(file, key, message)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    command: Callable[..., object] = app
    command(args=argv if argv is not None else sys.argv[1:], prog_name="mc-engine")


if __name__ == "__main__":
    main()
