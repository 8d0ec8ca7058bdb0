#!/bin/sh
# Installs what the peers need from Debian and builds both binaries: the four-engine
# one, and strata alone in target/solo (see run.sh for why). Used by run.sh and
# callgrind.sh.
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
