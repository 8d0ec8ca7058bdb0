#!/bin/sh
# Installs what the peers need from Debian, builds, and runs the benchmark.
# Usage: benches/peers/run.sh [--keys N] [--reads N] [--rounds R] [--engines a,b] [--skip p,q] [--markdown]
set -eu
cd "$(dirname "$0")"
need=""
for p in librocksdb-dev libleveldb-dev libclang-dev clang; do
    dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"
done
if [ -n "$need" ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -q
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need
fi
# Link RocksDB from Debian instead of compiling it from source.
export ROCKSDB_LIB_DIR=/usr/lib/x86_64-linux-gnu
cargo build --release
# strata alone, so that it gets the lz4_flex features it would get in any embedder
# (fjall's `safe-encode` would otherwise be unified into it); the parent runs the
# strata child from this build.
cargo build --release --no-default-features --target-dir target/solo
export STRATA_PEERS_SOLO_EXE="$PWD/target/solo/release/strata-peers"
exec ./target/release/strata-peers "$@"
