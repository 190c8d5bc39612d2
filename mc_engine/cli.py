"""The ``mc-engine`` command line: priors, run, and friends.

Every user error (bad prior file, bad option) prints the project's message and
exits with status 2; tracebacks are for bugs only.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from .errors import PriorError, PriorWarning, RunError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Monte Carlo risk engine for AI-inference economics.")
priors_app = typer.Typer(no_args_is_help=True, help="Validate and inspect prior files.")
app.add_typer(priors_app, name="priors")

out = Console()
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
        out.print(table)
        kinds = ", ".join(f"{c.id} ({c.kind})" for c in priors.companies)
        out.print(f"companies: {kinds}")
        out.print(
            "regime start (boom/normal/winter): "
            + " / ".join(f"{p:.2f}" for p in priors.regime_initial)
        )
        n_uncertain = sum(not i.is_point for i in priors.inputs.values())
        corr = priors.correlation
        out.print(
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
        out.print(table)
        out.print(f"distribution: {inp.dist}")
        out.print(f"source: {inp.source} (as of {inp.as_of}); from {inp.file}" + (" [unknown]" if inp.unknown else ""))


def _problem(file: Path, key: str, message: str):  # noqa: ANN202
    from .errors import Problem

    return Problem(file, key, message)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    command: Callable[..., object] = app
    command(args=argv if argv is not None else sys.argv[1:], prog_name="mc-engine")


if __name__ == "__main__":
    main()
