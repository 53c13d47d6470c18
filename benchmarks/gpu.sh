#!/usr/bin/env bash
# Run on a machine with an accelerator: the speed table, the scan benchmark and the sharded fit,
# and write a small report (benchmarks/results/gpu-report.md) with the card's name.
#
#   bash benchmarks/gpu.sh                 # all of it (about 10 minutes on one H100)
#   QUICK=1 bash benchmarks/gpu.sh         # the smallest case of each (about 3 minutes)
#
# Needs JAX for the accelerator (pip install -U "jax[cuda12]"). Every step runs in its own process
# and its output is kept in benchmarks/results/gpu-*.log; a failing step is reported, not fatal.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
OUT=benchmarks/results
mkdir -p "$OUT"
REPORT=$OUT/gpu-report.md
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}

card=$($PYTHON -c 'import jax; d = jax.devices(); print(f"{len(d)} x {d[0].device_kind} ({jax.default_backend()})")')
{
  echo "# smoseq on $card"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), jax $($PYTHON -c 'import jax; print(jax.__version__)'), smoseq $($PYTHON -c 'import smoseq; print(smoseq.__version__)')"
  echo
} > "$REPORT"

run() {  # run NAME COMMAND...: time it, keep its log, copy its output into the report
  local name=$1; shift
  echo "== $name: $*"
  local started=$SECONDS
  if "$@" > "$OUT/gpu-$name.log" 2>&1; then status=ok; else status="FAILED (exit $?)"; fi
  { echo "## $name ($status, $((SECONDS - started)) s)"; echo; echo '```text'; tail -n 30 "$OUT/gpu-$name.log"; echo '```'; echo; } >> "$REPORT"
}

if [ "${QUICK:-0}" = 1 ]; then
  run speed-table $PYTHON benchmarks/bench_gibbs.py --quick
  run kernels $PYTHON benchmarks/bench_kernels.py --runs 3 --lengths 50000
  run scan $PYTHON benchmarks/bench_scan.py --models 4 --iters 5 --rounds 1
  run sharded-fit $PYTHON benchmarks/bench_sharding.py --frames 2e6 --runs 1,all
else
  run speed-table $PYTHON benchmarks/bench_gibbs.py
  run kernels $PYTHON benchmarks/bench_kernels.py
  run scan $PYTHON benchmarks/bench_scan.py
  run sharded-fit $PYTHON benchmarks/bench_sharding.py --frames 20e6 --runs 1,all,all-4GB
fi
echo "report: $REPORT"
