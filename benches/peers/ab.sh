#!/bin/sh
# A/B of the strata child alone: two builds of `strata-peers` (e.g. before and after a
# change, each built with `cargo build --release --no-default-features --target-dir
# DIR`), run alternately for R rounds on the same workload; prints each phase's median
# per build and the ratio B/A (for *_secs and memory, lower is better).
# Usage: benches/peers/ab.sh ROUNDS EXE_A EXE_B [child args, e.g. --keys 1000000]
set -eu
rounds=$1 a=$2 b=$3
shift 3
out=$(mktemp -d)
i=1
while [ "$i" -le "$rounds" ]; do
    for side in a b; do
        if [ "$side" = a ]; then exe=$a; else exe=$b; fi
        "$exe" child strata "$@" | awk -v s="$side" '$1 == "RESULT" { print s, $2, $3 }' >>"$out/results"
    done
    echo "round $i/$rounds done" >&2
    i=$((i + 1))
done
python3 - "$out/results" <<'PY'
import sys, statistics, collections
vals = collections.defaultdict(lambda: collections.defaultdict(list))
order = []
for line in open(sys.argv[1]):
    side, phase, v = line.split()
    if phase not in order:
        order.append(phase)
    vals[phase][side].append(float(v))
# Rounds run A then B back to back, so a round's two runs share the machine's load of
# the moment: the median of the per-round ratios is steadier than the ratio of medians
# when the load drifts between rounds.
print(f"| phase | A (median) | B (median) | B/A | median of per-round B/A |")
print(f"| --- | ---: | ---: | ---: | ---: |")
for p in order:
    a, b = statistics.median(vals[p]["a"]), statistics.median(vals[p]["b"])
    paired = statistics.median(y / x for x, y in zip(vals[p]["a"], vals[p]["b"]) if x)
    print(f"| {p} | {a:.4g} | {b:.4g} | {b / a if a else float('nan'):.3f} | {paired:.3f} |")
PY
rm -rf "$out"
