#!/usr/bin/env bash
# Wheels that benchmarks/gpu.sh may need on an offline GPU machine, downloaded here (with network) into
# benchmarks/wheels/ (git-ignored; ~3 MB): the packages simulate() imports that a JAX-for-CUDA image may lack
# (pydantic and its dependencies), for Python 3.12 on x86-64 Linux unless GPU_WHEELS_PYTHON says otherwise.
# Carry the folder to the GPU machine and point gpu.sh at it:
#   GPU_BENCH_WHEELS=benchmarks/wheels bash benchmarks/gpu.sh
set -eu -o pipefail
cd "$(dirname "$0")/.."
DEST=${GPU_WHEELS_DEST:-benchmarks/wheels}
PYVER=${GPU_WHEELS_PYTHON:-3.12}
PY=${PYTHON:-python3}
mkdir -p "$DEST"
"$PY" -m pip download --quiet --only-binary=:all: --python-version "$PYVER" \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
  -d "$DEST" "pydantic>=2.6"
echo "wheels in $DEST ($(du -sh "$DEST" | cut -f1)):"
ls "$DEST"
