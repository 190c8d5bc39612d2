"""One simulation split across several ``jax.distributed`` processes equals a one-process run, bit for bit.

Two processes on this machine (CPU collectives over gloo, coordinator on localhost) each run
``simulate`` on the same priors; with ``block_size=256`` a superblock is 16,384 paths, so 40,000 paths
are 157 blocks in 3 superblocks: process 0 takes two, process 1 one. Each process writes the Dataset it
got; both must be identical to the Dataset of a plain one-process run (every variable, every bit).
Then the CLI: ``mc-engine run --distributed`` in two processes writes one run folder (process 0).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import tomli_w
import xarray as xr
from conftest import minimal_tree

import mc_engine
from mc_engine.engine.shard import process_block_range
from mc_engine.engine.simulate import SUPERBLOCK

N_PATHS, BLOCK, HORIZON, SEED = 40_000, 256, 6, 11

DRIVER = r"""
import sys
import jax
port, pid, priors, out = sys.argv[1:5]
jax.distributed.initialize(coordinator_address=f"localhost:{port}", num_processes=2, process_id=int(pid))
import mc_engine
ds = mc_engine.simulate(priors, int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]), block_size=int(sys.argv[8]),
                        sensitivity_paths=2_000)
for key in ("run_seconds", "compile_seconds", "history", "device"):  # when and where, not what
    ds.attrs.pop(key)
ds.to_netcdf(out)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def two_processes(argv_of: callable, tmp_path: Path) -> list[subprocess.CompletedProcess]:
    """Start processes 0 and 1 with ``argv_of(pid)`` and wait for both."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    procs = [subprocess.Popen(argv_of(pid), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              cwd=tmp_path) for pid in (0, 1)]
    done = []
    for p in procs:
        out, err = p.communicate(timeout=400)
        done.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    return done


@pytest.fixture(scope="module")
def priors_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("multihost") / "uncertain.toml"
    tree = minimal_tree()
    tree["market"]["demand_growth0"] = {"dist": "normal", "mean": 0.5, "sd": 0.3}
    tree["kinds"]["lab"]["raise_odds"] = {"dist": "lognormal", "median": 0.8, "sigma": 0.6}
    path.write_bytes(tomli_w.dumps(tree).encode())
    return path


def test_the_split_covers_every_block_once_in_whole_superblocks():
    blocks = -(-N_PATHS // BLOCK)
    ranges = [process_block_range(blocks, p, 2, align=SUPERBLOCK) for p in range(2)]
    assert [len(r) for r in ranges] == [2 * SUPERBLOCK, blocks - 2 * SUPERBLOCK]
    assert ranges[0].stop == ranges[1].start and ranges[1].stop == blocks and ranges[0].start == 0
    assert [len(process_block_range(5, p, 3, align=4)) for p in range(3)] == [4, 1, 0]


def test_two_processes_give_the_one_process_result_bit_for_bit(priors_file: Path, tmp_path: Path):
    port = free_port()
    outs = [tmp_path / f"p{pid}.nc" for pid in (0, 1)]
    done = two_processes(lambda pid: [sys.executable, "-c", DRIVER, str(port), str(pid), str(priors_file),
                                      str(outs[pid]), str(N_PATHS), str(SEED), str(HORIZON), str(BLOCK)], tmp_path)
    for p in done:
        assert p.returncode == 0, p.stderr[-3000:]
    one = mc_engine.simulate(priors_file, N_PATHS, SEED, HORIZON, block_size=BLOCK, sensitivity_paths=2_000)
    for key in ("run_seconds", "compile_seconds", "history", "device"):
        one.attrs.pop(key)
    assert float(one["survival_prob"].isel(quarter=-1).min()) < 1.0  # the runs have something to disagree on
    for out in outs:
        with xr.open_dataset(out) as ds:
            xr.testing.assert_identical(ds.load(), one)


def test_cli_run_distributed_writes_one_folder(priors_file: Path, tmp_path: Path):
    port = free_port()
    run = tmp_path / "run"
    done = two_processes(lambda pid: [sys.executable, "-m", "mc_engine.cli", "run", str(priors_file), "--paths", "3000",
                                      "--horizon", "2", "--out", str(run), "--allow-unsourced", "--distributed",
                                      "--coordinator", f"localhost:{port}", "--num-processes", "2",
                                      "--process-id", str(pid)], tmp_path)
    assert [p.returncode for p in done] == [0, 0], [p.stderr[-2000:] for p in done]
    assert "process 1 of 2: done; process 0 writes" in done[1].stdout
    ds = mc_engine.open_run(run)
    assert ds.sizes["quarter"] == 2 and ds.attrs["n_paths"] == 3000
