#!/bin/sh
# Instructions per operation of strata's hot paths, counted by valgrind's callgrind:
# the same figure for the same build whatever else the machine is doing, so two builds
# can be compared on a noisy shared machine where wall-clock benchmarks cannot.
#
# Usage: benches/callgrind.sh [KEYS] [READS] [WORKLOADS]
#   (defaults 200000, 40000, readrandom,readmissing,seekrandom,readseq)
#
# It fills a database with `strata bench` (fillrandom, 11 MiB memtables: three L0
# tables at 200k keys, all overlapping; a 4 MiB block cache holds a fraction of their
# blocks), then counts each read workload on that shape, then compacts everything and
# counts them again (readseq reads the first READS entries). Only `bench::worker` (the workload's own loop) is counted: not
# start-up, not opening the database. Prints one line per workload and shape:
#   <shape> <workload> <instructions> <instructions per operation>
set -eu
cd "$(dirname "$0")/.."
keys=${1:-200000}
reads=${2:-40000}
workloads=${3:-readrandom,readmissing,seekrandom,readseq}
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }
cargo build --release --features cli --quiet
exe=$PWD/target/release/strata
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
shape="--num $keys --memtable-size $((11 << 20)) --cache-size $((4 << 20)) --db $work/db"

count() { # <shape label> <workload>
    out=$work/callgrind.$1.$2
    valgrind --tool=callgrind --callgrind-out-file="$out" --collect-atstart=no \
        --toggle-collect='strata::bench::worker' \
        "$exe" bench $shape --reads "$reads" --benchmarks "$2" >/dev/null 2>&1
    total=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
    echo "$1 $2 $total $((total / reads))"
}

"$exe" bench $shape --benchmarks fillrandom,flush >/dev/null
for w in $(echo "$workloads" | tr , ' '); do count l0 "$w"; done
"$exe" bench $shape --benchmarks compact >/dev/null
for w in $(echo "$workloads" | tr , ' '); do count compacted "$w"; done
