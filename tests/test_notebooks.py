"""The notebooks run top to bottom in quick mode, draw real figures, and are stored without outputs."""

from __future__ import annotations

import base64
import io
import json
import shutil
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
KERNEL = "mc-engine-tests"


def test_there_are_notebooks():
    assert [p.name for p in NOTEBOOKS] == ["01_explore_run.ipynb", "02_sweep_analysis.ipynb",
                                           "03_custom_scenario.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_without_outputs(path):
    book = nbformat.read(path, as_version=4)
    nbformat.validate(book)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: clear outputs before saving"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """A copy of notebooks/ beside a link to priors/, so runs leave nothing in the checkout.

    Kernels inherit MC_ENGINE_QUICK=1 and one persistent JAX compilation cache: the notebooks simulate the
    same baseline shapes, so only the first one pays for compiling. The kernel is this interpreter, declared
    as its own kernel spec, so a user's global ``python3`` kernel cannot stand in for it.
    """
    root = tmp_path_factory.mktemp("notebooks")
    spec = root / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "mc_engine tests", "language": "python"}))
    (root / "priors").symlink_to(REPO / "priors", target_is_directory=True)
    shutil.copytree(REPO / "notebooks", root / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "*.toml"))
    # the inline backend, as in Jupyter: every figure is rendered to a PNG in the cell's outputs (Agg alone would
    # draw nothing anyone sees, and hide a broken figure)
    env = {"MC_ENGINE_QUICK": "1", "MPLBACKEND": "module://matplotlib_inline.backend_inline", "JUPYTER_PLATFORM_DIRS": "1",
           "JUPYTER_PATH": str(root / "jupyter"),
           "JAX_COMPILATION_CACHE_DIR": str(root / "jax-cache"), "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
           "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        yield root / "notebooks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, sandbox):
    from nbclient import NotebookClient

    book = nbformat.read(sandbox / path.name, as_version=4)
    NotebookClient(book, timeout=300, kernel_name=KERNEL,
                   resources={"metadata": {"path": str(sandbox)}}).execute()
    outputs = [o for c in book.cells if c.cell_type == "code" for o in c.outputs]
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors
    images = [o["data"]["image/png"] for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2, f"{path.name}: expected its figures as images, got {len(images)}"
    for encoded in images:
        with Image.open(io.BytesIO(base64.b64decode(encoded))) as image:
            pixels = np.asarray(image.convert("L"), dtype=np.float64)
        assert image.width >= 300 and image.height >= 200
        # something is drawn: not one flat colour, and more than a frame (a good share of non-white pixels)
        assert pixels.std() > 5 and (pixels < 250).mean() > 0.02, f"{path.name}: an empty figure"
