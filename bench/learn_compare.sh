#!/usr/bin/env bash
# learn_compare.sh: `smbrl bench learn` against the PyTorch baseline (bench/pytorch_learn.py),
# interleaved run by run so that both see the same machine load; prints one JSON line per run
# and then the medians over rounds and the speed-up. The machine may be shared: use medians.
# Usage: bench/learn_compare.sh BUILD_DIR [ROUNDS] [ITERS] [RAW]
#   RAW: a file the JSON lines are appended to; the summary then covers every line in it, so
#   runs spread over time (on a busy machine) can be pooled.
set -euo pipefail
build=${1:?usage: bench/learn_compare.sh BUILD_DIR [ROUNDS] [ITERS]}
rounds=${2:-3}
iters=${3:-10}
here="$(cd "$(dirname "$0")" && pwd)"
# The benchmark alone runs with OpenBLAS's own CPU detection (see the project notes).
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
out=${4:-$(mktemp)}
for r in $(seq "$rounds"); do
  for t in 1 2; do
    for b in 32 64; do
      LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp \
        /usr/bin/python3 "$here/pytorch_learn.py" --batch "$b" --threads "$t" --iters "$iters" --json |
        sed 's/^{/{"impl": "pytorch", /' | tee -a "$out"
      "$build/smbrl" bench learn --batch "$b" --threads "$t" --iters "$iters" --json |
        sed 's/^{/{"impl": "smbrl", /' | tee -a "$out"
    done
  done
done
/usr/bin/python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
# Each smbrl run follows the PyTorch run of the same configuration: the ratio within such a
# pair is the figure least moved by load that changes over minutes.
pairs = [(p, s) for p, s in zip(rows, rows[1:]) if p["impl"] == "pytorch" and s["impl"] == "smbrl"
         and p["threads"] == s["threads"] and p["batch"] == s["batch"]]
n = len(pairs) // 4
print(f"\nmedians over {n} rounds (ms); speed-up = median over rounds of pytorch / smbrl")
print(f"{'threads':>7} {'batch':>5} {'measure':>13} {'pytorch':>9} {'smbrl':>9} {'speed-up':>8}")
for t in (1, 2):
    for b in (32, 64):
        sel = [(p, s) for p, s in pairs if p["threads"] == t and p["batch"] == b]
        for key in ("update_ms", "update_cpu_ms", "act_ms", "act8_ms"):
            sel_k = [(p[key], s[key]) for p, s in sel if key in p and key in s]
            if not sel_k:
                continue
            pt = statistics.median(x for x, _ in sel_k)
            sm = statistics.median(y for _, y in sel_k)
            ratio = statistics.median(x / y for x, y in sel_k)
            print(f"{t:>7} {b:>5} {key:>13} {pt:9.2f} {sm:9.2f} {ratio:7.2f}x")
PY
[ -n "${4:-}" ] || rm -f "$out"
