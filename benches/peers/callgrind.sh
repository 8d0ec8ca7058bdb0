#!/bin/sh
# Instructions per operation of each engine in each phase of the peer workload,
# counted by valgrind's callgrind: the same figures whatever else the machine is doing,
# where the wall-clock ratios of run.sh swing by 2x between rounds on a shared machine.
#
# Usage: benches/peers/callgrind.sh [KEYS] [READS] [ENGINES]
#   (defaults 1000000, 100000, strata,fjall,rocksdb,leveldb)
#
# Each engine's child runs once under callgrind, every thread counted. A dump before and
# after each timed region (`workload::measured`) cuts the count into phases, so a phase
# includes the background flushes and compactions that ran during it; settle and
# compact are whatever those steps cost. readwhilewriting is left out: its writer runs for
# as long as the readers take, so its count says nothing per read.
#
# Prints one row per phase: instructions per operation for each engine (per key for
# the fills, scans, settle and compact; per read for the read phases), then the best
# peer's count over strata's (>1: strata executes fewer instructions).
# Takes 20 to 30 minutes per engine at 1M keys on a 2-vCPU machine.
set -eu
cd "$(dirname "$0")"
keys=${1:-1000000}
reads=${2:-100000}
engines=${3:-strata,fjall,rocksdb,leveldb}
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }
./build.sh >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export STRATA_PEERS_NO_SAMPLER=1

for engine in $(echo "$engines" | tr , ' '); do
    exe=$PWD/target/release/strata-peers
    [ "$engine" = strata ] && exe=$PWD/target/solo/release/strata-peers
    echo "callgrind: $engine" >&2
    valgrind --tool=callgrind --callgrind-out-file="$work/cg.$engine" \
        --dump-before='strata_peers::workload::measured' --dump-after='strata_peers::workload::measured' \
        "$exe" child "$engine" --keys "$keys" --reads "$reads" --dir "$work/db" \
        --skip readwhilewriting_1,readwhilewriting_2 >"$work/results.$engine" 2>"$work/valgrind.$engine" ||
        { cat "$work/valgrind.$engine" >&2; exit 1; }
    # The phases in the order the child timed them, and the dumps taken as each ended.
    grep '^RESULT' "$work/results.$engine" | awk '$2 != "disk_bytes" { print $2 }' >"$work/phases.$engine"
    for f in $(ls "$work" | grep "^cg\.$engine\.[0-9]*$" | sort -t. -k3 -n); do
        grep -q '^desc: Trigger: --dump-after' "$work/$f" && awk '/^totals:/ { print $2 }' "$work/$f"
    done >"$work/counts.$engine"
    [ "$(wc -l <"$work/phases.$engine")" -eq "$(wc -l <"$work/counts.$engine")" ] ||
        { echo "$engine: timed phases and dumps differ in number" >&2; exit 1; }
    paste "$work/phases.$engine" "$work/counts.$engine" | sed "s/^/$engine\t/" >>"$work/all"
done

awk -v keys="$keys" -v reads="$reads" -v engines="$engines" '
    BEGIN { n = split(engines, e, ",") }
    {
        per = ($2 ~ /^(read|seek)/) ? reads : keys
        v[$1, $2] = $3 / per
        if (!($2 in seen)) { seen[$2] = 1; order[++m] = $2 }
    }
    END {
        printf "%d keys, %d reads; instructions per operation (callgrind)\n\n| phase |", keys, reads
        for (i = 1; i <= n; i++) printf " %s |", e[i]
        printf " best peer / strata |\n| --- |"
        for (i = 1; i <= n; i++) printf " ---: |"
        printf " ---: |\n"
        for (j = 1; j <= m; j++) {
            p = order[j]; best = 0
            printf "| %s |", p
            for (i = 1; i <= n; i++) {
                x = v[e[i], p]
                printf " %.0f |", x
                if (e[i] != "strata" && (best == 0 || x < best)) best = x
            }
            s = v["strata", p]
            if (s > 0 && best > 0) printf " %.2fx |\n", best / s; else printf " - |\n"
        }
    }' "$work/all"
