#!/bin/sh
# Before/after criterion comparison: build the old tree with CARGO_TARGET_DIR=/tmp/before-target
# (cargo bench --no-run), build this tree, then run this script.
# Runs the before and after criterion binaries group by group, back to back.
BD=$(ls -t /tmp/before-target/release/deps/db-* | grep -v "\.d$" | head -1)
BC=$(ls -t /tmp/before-target/release/deps/components-* | grep -v "\.d$" | head -1)
AD=$(ls -t /work/main/target/release/deps/db-* | grep -v "\.d$" | head -1)
AC=$(ls -t /work/main/target/release/deps/components-* | grep -v "\.d$" | head -1)
for g in db_put db_get db_seek db_scan; do
  echo "### before $g"; $BD --bench --warm-up-time 1 --measurement-time 3 --noplot "^$g/" 2>&1 | grep -E "^[a-z_0-9]+/|time:" 
  echo "### after $g"; $AD --bench --warm-up-time 1 --measurement-time 3 --noplot "^$g/" 2>&1 | grep -E "^[a-z_0-9]+/|time:"
done
for g in memtable_insert_100k memtable_lookup block bloom_10_bits wal_append; do
  echo "### before $g"; $BC --bench --warm-up-time 1 --measurement-time 3 --noplot "^$g/" 2>&1 | grep -E "^[a-z_0-9]+/|time:"
  echo "### after $g"; $AC --bench --warm-up-time 1 --measurement-time 3 --noplot "^$g/" 2>&1 | grep -E "^[a-z_0-9]+/|time:"
done
echo done
