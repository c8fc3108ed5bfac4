#!/usr/bin/env bash
# Whole-process wall time of `migtag check --version N` on the bundled index (release build).
# Target (issue 2): median under 5 ms. Uses hyperfine when installed, else a timed loop.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/migtag
runs=${RUNS:-200}
if command -v hyperfine >/dev/null; then
  out=$(mktemp)
  # -i: `check --version 168 --dirty` exits 4 by design.
  hyperfine -N -i --warmup 20 --runs "$runs" --export-json "$out" \
    "$bin check --version 165" \
    "$bin check --version 168 --dirty" \
    "$bin --format json check --version 412" >/dev/null
  python3 - "$out" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    t = sorted(x * 1000 for x in r["times"])
    print(f"{r['command']:60s} median {r['median']*1000:.2f} ms  p90 {t[int(len(t)*0.9)]:.2f} ms  min {t[0]:.2f} ms  ({len(t)} runs)")
PY
  rm -f "$out"
else
  python3 - "$bin" "$runs" <<'PY'
import subprocess, sys, time, statistics
binary, runs = sys.argv[1], int(sys.argv[2])
for args in (["check", "--version", "165"], ["check", "--version", "168", "--dirty"], ["--format", "json", "check", "--version", "412"]):
    times = []
    for _ in range(runs):
        t = time.perf_counter(); subprocess.run([binary, *args], stdout=subprocess.DEVNULL); times.append((time.perf_counter() - t) * 1000)
    times.sort()
    print(f"{' '.join(args):40s} median {statistics.median(times):.2f} ms  p90 {times[int(runs*0.9)]:.2f} ms  min {times[0]:.2f} ms")
PY
fi
/usr/bin/time -v "$bin" check --version 165 2>&1 >/dev/null | grep -E "Maximum resident|Elapsed"
