#!/bin/sh
# Installs what the peers need from Debian, builds, and runs the benchmark.
# Usage: benches/peers/run.sh [--keys N] [--reads N] [--rounds R] [--engines a,b] [--skip p,q] [--markdown]
set -eu
cd "$(dirname "$0")"
./build.sh
export STRATA_PEERS_SOLO_EXE="$PWD/target/solo/release/strata-peers"
exec ./target/release/strata-peers "$@"
