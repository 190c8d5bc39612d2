#!/usr/bin/env bash
# The baseline on an accelerator at 1e6, 1e7 and 1e8 paths: throughput, compile time and device peak
# memory, one fresh process per size, written to benchmarks/results/gpu-<date>-<platform>.json.
#
# Offline: installs nothing from the network. JAX for the device (e.g. jax[cuda12]) must be installed
# already. mc_engine runs from this checkout through PYTHONPATH (no install); a missing dependency is
# installed only from a carried folder of wheels (GPU_BENCH_WHEELS, pip --no-index), else the script
# stops and names it. Run from anywhere: bash benchmarks/gpu.sh
#
# Environment (all optional):
#   GPU_BENCH_SIZES    paths per run, default "1000000 10000000 100000000"
#   GPU_BENCH_TIMEOUT  seconds per size, default 900 (a size past it is recorded as timed out)
#   GPU_BENCH_HORIZON  quarters, default 24
#   GPU_BENCH_PRIORS   prior file, default priors/baseline.toml
#   GPU_BENCH_OUT      output folder, default benchmarks/results
#   GPU_BENCH_WHEELS   folder of wheels for missing dependencies
#   PYTHON             interpreter, default python3
# Each size compiles afresh (MC_ENGINE_NO_JAX_CACHE=1), so compile times are cold-start figures.
set -u -o pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd)
PY=${PYTHON:-python3}
SIZES=${GPU_BENCH_SIZES:-"1000000 10000000 100000000"}
LIMIT=${GPU_BENCH_TIMEOUT:-900}
HORIZON=${GPU_BENCH_HORIZON:-24}
PRIORS=${GPU_BENCH_PRIORS:-$REPO/priors/baseline.toml}
OUT=${GPU_BENCH_OUT:-$REPO/benchmarks/results}
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
export MC_ENGINE_NO_JAX_CACHE=1

missing=$("$PY" - <<'PY'
import importlib.util
needed = ["jax", "numpy", "xarray", "pandas", "pydantic"]  # what simulate() imports
print(" ".join(m for m in needed if importlib.util.find_spec(m) is None))
PY
)
if [ -n "$missing" ]; then
  if [ -n "${GPU_BENCH_WHEELS:-}" ]; then
    echo "installing from $GPU_BENCH_WHEELS (no network): $missing"
    "$PY" -m pip install --no-index --find-links "$GPU_BENCH_WHEELS" ${missing//_/-} || exit 3
  else
    echo "missing Python packages: $missing (set GPU_BENCH_WHEELS to a folder of wheels)" >&2
    exit 3
  fi
fi
"$PY" -c "import mc_engine" || { echo "mc_engine does not import from $REPO" >&2; exit 3; }

mkdir -p "$OUT"
platform=$("$PY" -c "import jax; print(jax.default_backend())")
stamp=$(date -u +%Y-%m-%dT%H%M%SZ)
record="$OUT/gpu-$stamp-$platform.json"
lines=$(mktemp)
trap 'rm -f "$lines"' EXIT
echo "backend $platform; $PRIORS; sizes $SIZES; ${LIMIT} s per size; writing $record"
command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

for n in $SIZES; do
  start=$(date +%s)
  if line=$(timeout --kill-after=30 "$LIMIT" "$PY" "$REPO/benchmarks/gpu_run.py" "$n" "$HORIZON" "$PRIORS" 2> "$lines.err" | tail -n 1); then
    echo "$line" >> "$lines"
    echo "$n paths: $line"
  else
    rc=$?
    why=$([ "$rc" -ge 124 ] && echo "timed out after $LIMIT s" || echo "exit $rc: $(tail -n 1 "$lines.err")")
    "$PY" -c 'import json, sys; print(json.dumps({"paths": int(float(sys.argv[1])), "horizon": int(sys.argv[2]),
                                                  "error": sys.argv[3], "seconds": int(sys.argv[4])}))' \
      "$n" "$HORIZON" "$why" "$(( $(date +%s) - start ))" >> "$lines"
    echo "$n paths: FAILED ($why)"
  fi
done
rm -f "$lines.err"

"$PY" - "$lines" "$record" "$platform" "$PRIORS" <<'PY'
import datetime as dt, json, os, subprocess, sys
lines, record, platform, priors = sys.argv[1:5]
runs = [json.loads(l) for l in open(lines) if l.strip()]
smi = None
try:
    smi = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                         capture_output=True, text=True, timeout=30).stdout.strip() or None
except (OSError, subprocess.SubprocessError):
    pass
out = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "backend": platform,
       "nvidia_smi": smi, "cpu_count": os.cpu_count(), "priors": priors, "runs": runs,
       "note": "benchmarks/gpu.sh: seed 0, one fresh process per size, persistent "
               "compilation cache off (cold compile); cpq_per_s over the run's own time"}
json.dump(out, open(record, "w"), indent=1)
print(f"wrote {record}")
PY
