"""mc_engine: GPU-accelerated Monte Carlo risk engine for the economics of AI inference.

The public API is re-exported here; everything else lives in private modules.
"""

from __future__ import annotations

from . import _accessor  # noqa: F401 - registers ``ds.mc`` on xarray Datasets
from ._version import __version__ as __version__
from .errors import PriorError as PriorError
from .errors import PriorWarning as PriorWarning
from .errors import RunError as RunError
from .inputs.loader import Priors as Priors
from .inputs.loader import load_priors as load_priors
from .output.pipeline import simulate as simulate
from .output.runs import open_run as open_run
from .output.runs import write_run as write_run


def compile_sampler(priors, block_size=None):  # noqa: ANN001, ANN201 - thin lazy wrapper
    """Compile ``priors`` into a jittable :class:`~mc_engine.engine.sampler.Sampler` (imports JAX lazily)."""
    from .engine.keys import DEFAULT_BLOCK_SIZE
    from .engine.sampler import compile_sampler as _compile

    return _compile(priors, block_size or DEFAULT_BLOCK_SIZE)


def sweep(priors, grid=None, scenarios=None, n_paths=100_000, seed=0, horizon=24, out=None, target_se=None,
          **options):  # noqa: ANN001, ANN003, ANN201 - thin lazy wrapper
    """Simulate every grid point and scenario into one Dataset (see :func:`mc_engine.output.sweep.sweep`)."""
    from .output.sweep import sweep as _sweep

    return _sweep(priors, grid, scenarios, n_paths, seed, horizon, out, target_se, **options)


def write_report(run, previous=None, out=None, *, against=None, attribution_paths=None,
                 progress=None):  # noqa: ANN001, ANN201
    """Write the risk report of a run or sweep folder as HTML, PDF and JSON: alone, against last quarter's run
    (``previous``) or against another run (``against``); see :func:`mc_engine.report.write_report`.

    Imports matplotlib, jinja2 and WeasyPrint only when called.
    """
    from .report import write_report as _write_report

    return _write_report(run, previous=previous, out=out, against=against, attribution_paths=attribution_paths,
                         progress=progress)


__all__ = ["Priors", "PriorError", "PriorWarning", "RunError", "compile_sampler", "load_priors", "open_run", "simulate", "sweep", "write_report", "write_run", "__version__"]
